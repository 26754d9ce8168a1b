from datetime import timedelta
from io import StringIO

import pytest
import requests
import responses
from django.core.management import call_command
from django.test import Client
from django.utils import timezone

from mpesa.models import CallbackDelivery, StkPush
from mpesa.rules import forbidden_callback_words
from mpesa.services import new_callback_token
from sales.models import Product
from tests.conftest import DARAJA, post_callback, run_parallel, run_worker, success_callback
from wallet.models import Wallet

QUERY = f"{DARAJA}/mpesa/stkpushquery/v1/query"


def age(push, seconds):
    StkPush.objects.filter(pk=push.pk).update(created_at=timezone.now() - timedelta(seconds=seconds))


def query_answers(mock, code, desc="x"):
    mock.add(responses.POST, QUERY, json={
        "ResponseCode": "0", "ResponseDescription": "The service request has been accepted successsfully",
        "MerchantRequestID": "m", "CheckoutRequestID": "c", "ResultCode": code, "ResultDesc": desc,
    })


def still_processing(mock):
    mock.add(responses.POST, QUERY, status=500, json={"requestId": "c", "errorCode": "500.001.1001", "errorMessage": "The transaction is being processed"})


def reconcile(**kwargs):
    out = StringIO()
    call_command("reconcile_stk_pushes", stdout=out, **kwargs)
    return out.getvalue()


@pytest.mark.django_db
def test_query_success_settles_a_push_whose_callback_never_came(owner, start_topup, daraja):
    purchase = start_topup(amount=100)
    age(purchase.push, 120)
    query_answers(daraja, "0", "The service request is processed successfully.")
    output = reconcile(older_than=60, expire_after=600)
    assert "checked=1 resolved=1" in output
    assert StkPush.objects.get(pk=purchase.push.pk).status == "succeeded"
    assert Wallet.objects.get(business=owner.business).balance == 100


@pytest.mark.django_db
def test_still_processing_stays_pending_inside_the_window(owner, start_topup, daraja):
    purchase = start_topup()
    age(purchase.push, 120)
    still_processing(daraja)
    assert "still_pending=1" in reconcile(older_than=60, expire_after=600)
    assert StkPush.objects.get(pk=purchase.push.pk).status == "pending"


@pytest.mark.django_db
def test_still_processing_past_the_window_expires(owner, start_topup, daraja):
    purchase = start_topup()
    age(purchase.push, 700)
    still_processing(daraja)
    assert "expired=1" in reconcile(older_than=60, expire_after=600)
    push = StkPush.objects.get(pk=purchase.push.pk)
    assert push.status == "expired"
    assert push.token_purchase.status == "expired"
    assert Wallet.objects.get(business=owner.business).balance == 0


@pytest.mark.django_db
def test_query_failure_code_resolves_with_its_reason(owner, start_topup, daraja):
    purchase = start_topup()
    age(purchase.push, 120)
    query_answers(daraja, "1032", "Request cancelled by user")
    reconcile(older_than=60, expire_after=600)
    purchase.refresh_from_db()
    assert purchase.status == "cancelled"
    assert purchase.reason == "The customer cancelled the M-Pesa prompt."


@pytest.mark.django_db
def test_young_pushes_are_left_alone(owner, start_topup, daraja):
    purchase = start_topup()
    assert "checked=0" in reconcile(older_than=60, expire_after=600)
    assert StkPush.objects.get(pk=purchase.push.pk).status == "pending"


def start_unknown_push(owner, daraja, failure):
    """A purchase whose STK POST got no usable answer: the push is ``unknown``, no CheckoutRequestID."""
    from wallet.services import token_purchase_start

    daraja.add(responses.POST, f"{DARAJA}/mpesa/stkpush/v1/processrequest", body=failure)
    with run_worker():
        token_purchase_start(business=owner.business, phone="254708374149", amount=50)
    push = StkPush.objects.get()
    assert push.status == "unknown" and push.checkout_request_id is None
    return push


@pytest.mark.django_db
def test_unknown_push_without_checkout_id_expires_after_the_window(owner, daraja):
    push = start_unknown_push(owner, daraja, requests.ReadTimeout("slow"))
    age(push, 700)
    reconcile(older_than=60, expire_after=600)
    assert StkPush.objects.get().status == "expired"


@pytest.mark.django_db
def test_unknown_push_is_still_resolved_by_its_callback_token(owner, daraja):
    push = start_unknown_push(owner, daraja, requests.ConnectionError("reset"))
    push.checkout_request_id = "ws_CO_ARRIVED_LATE"
    post_callback(Client(), push, success_callback(push))
    push.refresh_from_db()
    assert push.status == "succeeded" and push.checkout_request_id == "ws_CO_ARRIVED_LATE"
    assert Wallet.objects.get(business=owner.business).balance == 50


@pytest.mark.django_db
def test_confirmation_on_leaves_pending_then_reconcile_applies_the_stored_callback(owner, start_topup, daraja, settings):
    settings.MPESA_CONFIRM_CALLBACKS = True
    purchase = start_topup(amount=100)
    still_processing(daraja)
    with run_worker():  # the worker's confirmation query says "still processing"
        response = post_callback(Client(), purchase.push, success_callback(purchase.push, receipt="RCPT000001"))
    assert response.json() == {"ResultCode": 0, "ResultDesc": "Accepted"}
    assert len([c for c in daraja.calls if c.request.url == QUERY]) == 1
    assert StkPush.objects.get(pk=purchase.push.pk).status == "pending"
    assert CallbackDelivery.objects.get().outcome == "left_pending"
    age(purchase.push, 120)
    daraja.replace(responses.POST, QUERY, json={"ResponseCode": "0", "ResultCode": "0", "ResultDesc": "ok", "CheckoutRequestID": "c", "MerchantRequestID": "m"})
    reconcile(older_than=60, expire_after=600)
    push = StkPush.objects.get(pk=purchase.push.pk)
    assert push.status == "succeeded" and push.mpesa_receipt == "RCPT000001"
    assert Wallet.objects.get(business=owner.business).balance == 100


@pytest.mark.django_db
def test_confirmation_contradicted_goes_to_review(owner, start_topup, daraja, settings):
    settings.MPESA_CONFIRM_CALLBACKS = True
    purchase = start_topup(amount=100)
    query_answers(daraja, "1032")
    with run_worker():
        post_callback(Client(), purchase.push, success_callback(purchase.push))
    assert StkPush.objects.get(pk=purchase.push.pk).status == "needs_review"
    assert Wallet.objects.get(business=owner.business).balance == 0


@pytest.mark.django_db
def test_confirmation_runs_in_the_worker_not_in_the_callback_request(owner, start_topup, daraja, settings):
    settings.MPESA_CONFIRM_CALLBACKS = True
    purchase = start_topup(amount=100)
    query_answers(daraja, "0", "ok")
    with run_worker():
        post_callback(Client(), purchase.push, success_callback(purchase.push, receipt="RCPT000002"))
        # The callback has been answered and nothing was asked of Daraja yet.
        assert [c for c in daraja.calls if c.request.url == QUERY] == []
        assert StkPush.objects.get(pk=purchase.push.pk).status == "pending"
    push = StkPush.objects.get(pk=purchase.push.pk)
    assert (push.status, push.mpesa_receipt) == ("succeeded", "RCPT000002")
    assert Wallet.objects.get(business=owner.business).balance == 100


@pytest.mark.django_db
def test_query_never_downgrades_an_applied_success(owner, start_topup, daraja):
    purchase = start_topup(amount=100)
    post_callback(Client(), purchase.push, success_callback(purchase.push))
    from mpesa.services import PushResult, stk_push_apply_result

    assert stk_push_apply_result(push_id=purchase.push.pk, result=PushResult("1032", "cancelled")) == "ignored"
    assert StkPush.objects.get(pk=purchase.push.pk).status == "succeeded"


def test_callback_tokens_never_spell_a_forbidden_word():
    tokens = [new_callback_token() for _ in range(3000)]
    assert all(len(t) == 64 and not forbidden_callback_words(t) for t in tokens)
    assert len(set(tokens)) == 3000


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_sixteen_threads_same_success_callback_thirty_trials_handler_runs_once(make_owner, daraja):
    """The sale handler this time (the wallet's credit is raced in tests/wallet): one transition,
    one handler run, stock committed once, every trial."""
    from sales.models import Sale, StockMovement
    from sales.services import product_create, sale_start
    from tests.conftest import accept_push, setup_till

    owner = make_owner()
    setup_till(owner.business)
    product = product_create(business=owner.business, name="Soda", sku="SODA", price=50, stock=30)
    for trial in range(30):
        accept_push(daraja)
        sale = sale_start(business=owner.business, phone=f"2547083{trial:05d}", items=[{"product_id": product.public_id, "quantity": 1}])
        push = StkPush.objects.get(pk=sale.push_id)
        body = success_callback(push, receipt=f"RCPT{trial:06d}")
        codes = [r.status_code for r in run_parallel(16, lambda p=push, b=body: post_callback(Client(), p, b))]
        assert codes == [200] * 16
        assert CallbackDelivery.objects.filter(push=push, outcome="applied").count() == 1
        assert CallbackDelivery.objects.filter(push=push, outcome="duplicate").count() == 15
        assert Sale.objects.get(pk=sale.pk).status == "paid"
        assert StockMovement.objects.filter(sale=sale).count() == 1
    assert Product.objects.get(pk=product.pk).stock == 0


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_reconcilers_query_each_push_once(make_owner, daraja):
    from mpesa.services import stk_push_reconcile
    from tests.conftest import accept_push
    from wallet.services import token_purchase_start

    owner = make_owner()
    for i in range(12):
        accept_push(daraja)
        token_purchase_start(business=owner.business, phone=f"2547155{i:05d}", amount=5)
    StkPush.objects.update(created_at=timezone.now() - timedelta(seconds=120))
    for _ in range(12):
        still_processing(daraja)
    results = run_parallel(4, lambda: stk_push_reconcile(older_than_seconds=60, expire_after_seconds=600))
    assert sum(r["checked"] for r in results) == 12
    assert sum(r["skipped"] for r in results) + 12 == sum(r["checked"] + r["skipped"] for r in results)
    assert len([c for c in daraja.calls if c.request.url == QUERY]) == 12
