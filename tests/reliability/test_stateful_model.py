"""A hypothesis state machine over the money paths: purchases, cart sales, callbacks (success,
failure, duplicates, late successes), reconciliation expiries and spends, interleaved. After every
step: balance == Σ ledger, stock ≥ 0 and equal to what pending and paid sales hold, each receipt
applied at most once."""

import itertools
import json

import pytest
from django.db.models import Sum
from django.test import Client
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule, run_state_machine_as_test
from rest_framework.test import APIClient

from accounts.services import business_sign_up
from mpesa import outcomes
from mpesa.models import StkPush
from mpesa.services import PromptInProgress, PushResult, stk_push_apply_result
from sales.models import Product, Sale
from sales.services import InsufficientStock, product_create, sale_create
from tests.conftest import failure_callback, setup_till, success_callback
from wallet.models import Wallet, WalletEntry
from wallet.selectors import ledger_sum
from wallet.services import InsufficientTokens, token_purchase_create, wallet_debit

_ids = itertools.count(1)
INITIAL_STOCK = 5


class MoneyModel(RuleBasedStateMachine):
    def __init__(self):
        super().__init__()
        n = next(_ids)
        self.business = business_sign_up(email=f"model{n}@example.com", password="Str0ng-pass-123", full_name="M",
                                          business_name=f"Model {n}", phone="254708374149").business
        setup_till(self.business)
        self.products = [product_create(business=self.business, name=f"P{i}", sku=f"P{i}", price=10 * (i + 1), stock=INITIAL_STOCK) for i in range(2)]
        self.phones = (f"2547{n:03d}{i:05d}" for i in itertools.count())
        self.receipts = (f"R{n:04d}{i:05d}" for i in itertools.count())
        self.client = Client()

    def _pending(self):
        return list(StkPush.objects.filter(business=self.business, status__in=StkPush.OPEN_STATUSES).order_by("id"))

    def _send(self, push):
        # What stk_push_send records when Daraja accepts; the Daraja call itself is not the subject here.
        StkPush.objects.filter(pk=push.pk).update(status="pending", checkout_request_id=f"ws_CO_M{push.pk:08d}")
        push.refresh_from_db()

    def _deliver(self, push, body):
        response = self.client.post(f"/api/daraja/callback/{push.callback_token}/", json.dumps(body), content_type="application/json")
        assert response.status_code == 200

    @rule(amount=st.integers(min_value=1, max_value=300))
    def buy_tokens(self, amount):
        self._send(token_purchase_create(business=self.business, phone=next(self.phones), amount=amount).push)

    @rule(index=st.integers(0, 1), quantity=st.integers(1, 4))
    def start_cart_sale(self, index, quantity):
        try:
            sale = sale_create(business=self.business, phone=next(self.phones), items=[{"product_id": self.products[index].public_id, "quantity": quantity}])
        except (InsufficientStock, PromptInProgress):
            return
        self._send(sale.push)

    @precondition(lambda self: self._pending())
    @rule(pick=st.integers(0, 1000), times=st.integers(1, 3))
    def pay(self, pick, times):
        pending = self._pending()
        push = pending[pick % len(pending)]
        body = success_callback(push, receipt=next(self.receipts))
        for _ in range(times):
            self._deliver(push, body)

    @precondition(lambda self: self._pending())
    @rule(pick=st.integers(0, 1000), code=st.sampled_from([1032, 1037, 1, 2001, "SFC_IC0003"]))
    def fail(self, pick, code):
        pending = self._pending()
        push = pending[pick % len(pending)]
        self._deliver(push, failure_callback(push, code, "x"))
        self._deliver(push, failure_callback(push, code, "x"))

    @precondition(lambda self: self._pending())
    @rule(pick=st.integers(0, 1000))
    def reconcile_expires(self, pick):
        pending = self._pending()
        stk_push_apply_result(push_id=pending[pick % len(pending)].pk, result=PushResult(outcomes.EXPIRED_BY_US, "window passed"))

    @precondition(lambda self: StkPush.objects.filter(business=self.business, status="expired").exists())
    @rule()
    def late_success(self):
        push = StkPush.objects.filter(business=self.business, status="expired").order_by("id").first()
        self._deliver(push, success_callback(push, receipt=next(self.receipts)))

    @rule(
        pick=st.integers(0, 1000),
        raw=st.sampled_from([
            b"\xff\xfe\x00",
            ("[" * 6000 + "]" * 6000).encode(),
            ('{"Body": ' * 40 + "{}" + "}" * 40).encode(),
            json.dumps({"pad": "x" * (3 * 1024 * 1024)}).encode(),
        ]),
    )
    def bad_bodies_change_nothing(self, pick, raw):
        """Oversized, deeply nested and NUL-bearing bodies, to the callback view and to the API:
        refused (4xx), and the invariants below still hold (issue #13)."""
        pushes = list(StkPush.objects.filter(business=self.business).order_by("id"))
        before = [(p.status, p.mpesa_receipt) for p in pushes]
        if pushes:
            push = pushes[pick % len(pushes)]
            response = self.client.post(f"/api/daraja/callback/{push.callback_token}/", raw, content_type="application/json")
            assert response.status_code in (400, 413)
        api = APIClient()
        api.force_authenticate(user=self.business.memberships.first().user)
        for path in ("/api/sales/payment", "/api/wallet-payment/initiate", "/api/products"):
            assert api.post(path, raw, content_type="application/json").status_code in (400, 413)
        assert [(p.status, p.mpesa_receipt) for p in StkPush.objects.filter(business=self.business).order_by("id")] == before

    @rule(tokens=st.integers(1, 200))
    def spend(self, tokens):
        try:
            wallet_debit(business=self.business, tokens=tokens, cause="spend", reference=f"spend-{next(self.receipts)}")
        except InsufficientTokens:
            pass

    @invariant()
    def balance_matches_ledger(self):
        wallet = Wallet.objects.get(business=self.business)
        assert wallet.balance == ledger_sum(wallet) >= 0

    @invariant()
    def stock_is_what_pending_and_paid_sales_hold(self):
        for product in Product.objects.filter(business=self.business):
            assert product.stock >= 0
            held = (
                Sale.objects.filter(business=self.business, stock_state__in=["reserved", "committed"], items__product=product)
                .aggregate(total=Sum("items__quantity"))["total"] or 0
            )
            assert product.stock + held == INITIAL_STOCK

    @invariant()
    def receipts_applied_at_most_once(self):
        receipts = list(StkPush.objects.filter(business=self.business).exclude(mpesa_receipt=None).values_list("mpesa_receipt", flat=True))
        assert len(receipts) == len(set(receipts))
        credited = WalletEntry.objects.filter(business=self.business, cause="purchase").count()
        assert credited == StkPush.objects.filter(business=self.business, purpose="wallet_topup", status="succeeded").count()

    @invariant()
    def paid_sales_have_succeeded_pushes(self):
        assert not Sale.objects.filter(business=self.business, status="paid").exclude(push__status="succeeded").exists()


@pytest.mark.django_db
def test_money_model_holds_under_any_interleaving():
    run_state_machine_as_test(
        MoneyModel,
        settings=settings(max_examples=25, stateful_step_count=25, deadline=None, suppress_health_check=list(HealthCheck)),
    )
