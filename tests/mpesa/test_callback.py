import json
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from django.test import Client
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from mpesa.models import CallbackDelivery, StkPush
from mpesa.services import PushResult, stk_push_apply_result
from tests.conftest import failure_callback, post_callback, success_callback
from wallet.models import Wallet, WalletEntry

PAYLOADS = Path(__file__).resolve().parents[1] / "fixtures" / "daraja"
ACCEPTED = {"ResultCode": 0, "ResultDesc": "Accepted"}


def balance(business):
    return Wallet.objects.get(business=business).balance


@pytest.mark.django_db
def test_success_callback_credits_and_answers_accepted(owner, start_topup):
    purchase = start_topup(amount=100)
    response = post_callback(Client(), purchase.push, success_callback(purchase.push))
    assert response.status_code == 200 and response.json() == ACCEPTED
    push = StkPush.objects.get(pk=purchase.push.pk)
    assert push.status == "succeeded" and push.mpesa_receipt == "NLJ7RT61SV" and push.result_code == "0"
    assert push.transaction_date == datetime(2025, 11, 22, 10, 21, 15, tzinfo=ZoneInfo("Africa/Nairobi"))
    assert balance(owner.business) == 100
    delivery = CallbackDelivery.objects.get()
    assert delivery.outcome == "applied" and delivery.push_id == push.pk
    assert json.loads(delivery.body)["Body"]["stkCallback"]["ResultCode"] == 0


@pytest.mark.django_db
def test_official_success_payload_without_balance_item_is_applied(owner, start_topup):
    purchase = start_topup(amount=1, phone="254708374149")
    body = json.loads((PAYLOADS / "official_stk_callback_success_no_balance_item.json").read_text())
    body["Body"]["stkCallback"]["CheckoutRequestID"] = purchase.push.checkout_request_id
    assert post_callback(Client(), purchase.push, body).json() == ACCEPTED
    assert StkPush.objects.get(pk=purchase.push.pk).status == "succeeded"
    assert balance(owner.business) == 1


@pytest.mark.django_db
def test_official_cancelled_payload_credits_nothing(owner, start_topup):
    purchase = start_topup()
    body = json.loads((PAYLOADS / "official_stk_callback_cancelled_1032.json").read_text())
    body["Body"]["stkCallback"]["CheckoutRequestID"] = purchase.push.checkout_request_id
    post_callback(Client(), purchase.push, body)
    push = StkPush.objects.get(pk=purchase.push.pk)
    assert push.status == "cancelled" and push.result_code == "1032"
    assert balance(owner.business) == 0


@pytest.mark.django_db
@pytest.mark.parametrize(
    "code, desc, status",
    [
        (1032, "Request cancelled by user", "cancelled"),
        (1031, "Request cancelled by user", "cancelled"),
        (1037, "DS timeout user cannot be reached", "expired"),
        (1036, "SMSC ACK timeout.", "expired"),
        (1019, "Transaction has expired", "expired"),
        (1, "The balance is insufficient for the transaction.", "failed"),
        (2001, "The initiator information is invalid.", "failed"),
        ("SFC_IC0003", "The operator does not exist", "failed"),
        ("1032", "[STK_CB - ]Request cancelled by user", "cancelled"),
    ],
)
def test_failure_codes_reach_their_terminal_state(owner, start_topup, code, desc, status):
    purchase = start_topup()
    response = post_callback(Client(), purchase.push, failure_callback(purchase.push, code, desc))
    assert response.json() == ACCEPTED
    push = StkPush.objects.get(pk=purchase.push.pk)
    assert push.status == status and push.result_code == str(code)
    assert balance(owner.business) == 0
    assert CallbackDelivery.objects.get().body


@pytest.mark.django_db
def test_duplicate_success_changes_nothing(owner, start_topup):
    purchase = start_topup(amount=100)
    for _ in range(3):
        assert post_callback(Client(), purchase.push, success_callback(purchase.push)).json() == ACCEPTED
    assert balance(owner.business) == 100
    assert WalletEntry.objects.count() == 1
    assert list(CallbackDelivery.objects.order_by("id").values_list("outcome", flat=True)) == ["applied", "duplicate", "duplicate"]


@pytest.mark.django_db
def test_failure_after_success_never_downgrades(owner, start_topup):
    purchase = start_topup(amount=100)
    post_callback(Client(), purchase.push, success_callback(purchase.push))
    post_callback(Client(), purchase.push, failure_callback(purchase.push))
    assert StkPush.objects.get(pk=purchase.push.pk).status == "succeeded"
    assert balance(owner.business) == 100


@pytest.mark.django_db
def test_late_success_after_expiry_still_wins(owner, start_topup):
    purchase = start_topup(amount=100)
    stk_push_apply_result(push_id=purchase.push.pk, result=PushResult("expired", "no answer"))
    assert StkPush.objects.get(pk=purchase.push.pk).status == "expired"
    post_callback(Client(), purchase.push, success_callback(purchase.push))
    assert StkPush.objects.get(pk=purchase.push.pk).status == "succeeded"
    assert balance(owner.business) == 100


@pytest.mark.django_db
@pytest.mark.parametrize("change", [{"amount": 99}, {"amount": "100.50"}, {"phone": "254711111111"}])
def test_success_with_other_amount_or_phone_goes_to_review_and_credits_nothing(owner, start_topup, change):
    purchase = start_topup(amount=100)
    post_callback(Client(), purchase.push, success_callback(purchase.push, **change))
    push = StkPush.objects.get(pk=purchase.push.pk)
    assert push.status == "needs_review" and push.review_reason
    assert balance(owner.business) == 0
    assert CallbackDelivery.objects.get().outcome == "review"


@pytest.mark.django_db
def test_amount_written_as_decimal_is_accepted(owner, start_topup):
    purchase = start_topup(amount=100)
    body = success_callback(purchase.push)
    raw = json.dumps(body).replace('"Value": 100.0', '"Value": 100.00')
    post_callback(Client(), purchase.push, raw)
    assert balance(owner.business) == 100


@pytest.mark.django_db
def test_receipt_reused_on_another_push_goes_to_review(owner, start_topup):
    first = start_topup(amount=100, phone="254708374149")
    post_callback(Client(), first.push, success_callback(first.push, receipt="SAMERECEIPT"))
    second = start_topup(amount=100, phone="254712345678")
    post_callback(Client(), second.push, success_callback(second.push, receipt="SAMERECEIPT"))
    assert StkPush.objects.get(pk=second.push.pk).status == "needs_review"
    assert balance(owner.business) == 100


@pytest.mark.django_db
def test_unknown_token_is_accepted_stored_and_ignored(owner, start_topup):
    purchase = start_topup(amount=100)
    response = Client().post("/api/daraja/callback/not-a-real-token/", json.dumps(success_callback(purchase.push)), content_type="application/json")
    assert response.json() == ACCEPTED
    assert CallbackDelivery.objects.get().outcome == "unknown_token"
    assert StkPush.objects.get(pk=purchase.push.pk).status == "pending"
    assert balance(owner.business) == 0


@pytest.mark.django_db
def test_wrong_checkout_request_id_is_ignored(owner, start_topup):
    purchase = start_topup(amount=100)
    body = success_callback(purchase.push)
    body["Body"]["stkCallback"]["CheckoutRequestID"] = "ws_CO_SOMEONE_ELSE"
    post_callback(Client(), purchase.push, body)
    assert CallbackDelivery.objects.get().outcome == "mismatch"
    assert StkPush.objects.get(pk=purchase.push.pk).status == "pending"
    assert balance(owner.business) == 0


@pytest.mark.django_db
@pytest.mark.parametrize(
    "body",
    [
        "{not json",
        "[]",
        json.dumps({"Body": {}}),
        json.dumps({"Body": {"stkCallback": {"CheckoutRequestID": "x"}}}),
        json.dumps({"Body": {"stkCallback": {"CheckoutRequestID": "x", "ResultCode": 0}}}),
        json.dumps({"Body": {"stkCallback": {"CheckoutRequestID": "x", "ResultCode": 0, "CallbackMetadata": {"Item": [{"Name": "Amount", "Value": "abc"}]}}}}),
        json.dumps({"Body": {"stkCallback": {"CheckoutRequestID": "x", "ResultCode": None}}}),
        json.dumps({"Body": {"stkCallback": {"CheckoutRequestID": ["x"], "ResultCode": 0}}}),
    ],
)
def test_malformed_bodies_get_a_4xx_json_answer_and_change_nothing(owner, start_topup, body):
    purchase = start_topup(amount=100)
    response = post_callback(Client(), purchase.push, body)
    assert response.status_code == 400
    assert response.json()["ResultCode"] == 1
    assert StkPush.objects.get(pk=purchase.push.pk).status == "pending"
    assert CallbackDelivery.objects.get().outcome == "malformed"
    assert balance(owner.business) == 0


@pytest.mark.django_db
def test_oversized_body_is_refused_without_storing_it(owner, start_topup, settings):
    settings.MPESA_CALLBACK_MAX_BYTES = 1000
    purchase = start_topup()
    response = post_callback(Client(), purchase.push, json.dumps({"pad": "x" * 5000}))
    assert response.status_code == 413
    delivery = CallbackDelivery.objects.get()
    assert delivery.outcome == "too_large" and delivery.body == ""


@pytest.mark.django_db
def test_callback_only_accepts_post(owner, start_topup):
    purchase = start_topup()
    assert Client().get(f"/api/daraja/callback/{purchase.push.callback_token}/").status_code == 405


@pytest.mark.django_db
def test_allow_list_uses_only_trusted_proxy_hops(owner, start_topup, settings):
    settings.MPESA_CALLBACK_ALLOWED_IPS = ["196.201.214.200", "196.201.213.0/24"]
    settings.MPESA_CALLBACK_TRUSTED_PROXIES = 1
    purchase = start_topup(amount=100)
    forged = post_callback(
        Client(), purchase.push, success_callback(purchase.push),
        REMOTE_ADDR="10.0.0.5", HTTP_X_FORWARDED_FOR="196.201.214.200, 203.0.113.9",
    )
    assert forged.status_code == 403
    assert balance(owner.business) == 0
    genuine = post_callback(
        Client(), purchase.push, success_callback(purchase.push),
        REMOTE_ADDR="10.0.0.5", HTTP_X_FORWARDED_FOR="203.0.113.9, 196.201.213.44",
    )
    assert genuine.status_code == 200
    assert balance(owner.business) == 100
    assert list(CallbackDelivery.objects.order_by("id").values_list("outcome", flat=True)) == ["forbidden_ip", "applied"]


@pytest.mark.django_db
def test_without_trusted_proxies_forwarded_for_is_ignored(owner, start_topup, settings):
    settings.MPESA_CALLBACK_ALLOWED_IPS = ["196.201.214.200"]
    purchase = start_topup(amount=100)
    response = post_callback(Client(), purchase.push, success_callback(purchase.push), REMOTE_ADDR="203.0.113.9", HTTP_X_FORWARDED_FOR="196.201.214.200")
    assert response.status_code == 403
    assert balance(owner.business) == 0


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=20,
)
callback_like = st.fixed_dictionaries(
    {"Body": st.fixed_dictionaries({"stkCallback": st.dictionaries(
        st.sampled_from(["MerchantRequestID", "CheckoutRequestID", "ResultCode", "ResultDesc", "CallbackMetadata"]),
        json_values, max_size=5,
    )})}
)


@pytest.mark.django_db
@hsettings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(body=json_values | callback_like)
def test_arbitrary_json_never_500s_and_never_changes_state(owner, start_topup, body):
    purchase = start_topup(amount=100) if not StkPush.objects.exists() else StkPush.objects.get().token_purchase
    push = purchase.push
    response = post_callback(Client(), push, body)
    assert response.status_code in (200, 400)
    push.refresh_from_db()
    assert push.status == "pending"
    assert balance(owner.business) == 0


@pytest.mark.django_db
def test_admin_shows_raw_daraja_bodies_to_superusers_only(owner, start_topup, django_user_model):
    push = start_topup(amount=100).push
    post_callback(Client(), push, success_callback(push))
    push.refresh_from_db()
    delivery = CallbackDelivery.objects.get(push=push)
    pages = [f"/admin/mpesa/stkpush/{push.pk}/change/", f"/admin/mpesa/callbackdelivery/{delivery.pk}/change/"]
    owner_client = Client()
    owner_client.force_login(owner.user)
    for url in pages:
        page = owner_client.get(url)
        assert page.status_code == 200, url
        html = page.content.decode()
        assert push.checkout_request_id not in html and push.callback_token not in html, url
    root = django_user_model.objects.create_superuser(email="root@example.com", password="x", full_name="Root")
    root_client = Client()
    root_client.force_login(root)
    for url in pages:
        html = root_client.get(url).content.decode()
        assert push.checkout_request_id in html and push.callback_token not in html, url


@pytest.mark.django_db
def test_a_failure_inside_the_apply_transaction_changes_nothing_and_a_resend_applies_once(owner, start_topup, monkeypatch):
    import mpesa.services as services

    purchase = start_topup(amount=100)
    real_hooks = services.hooks_for
    failures = []

    class Failing:
        def __init__(self, hooks):
            self.credentials_for = hooks.credentials_for
            self._on_change = hooks.on_change

        def on_change(self, push, previous):
            self._on_change(push, previous)  # the credit is written, then the transaction fails
            failures.append(push.pk)
            raise RuntimeError("database went away mid-apply")

    monkeypatch.setattr(services, "hooks_for", lambda purpose: Failing(real_hooks(purpose)))
    body = success_callback(purchase.push)
    response = post_callback(Client(), purchase.push, body)
    assert response.status_code == 503 and failures == [purchase.push.pk]
    push = StkPush.objects.get(pk=purchase.push.pk)
    assert (push.status, push.mpesa_receipt) == ("pending", None)
    assert balance(owner.business) == 0 and not WalletEntry.objects.exists()
    assert list(CallbackDelivery.objects.values_list("outcome", flat=True)) == ["received"]

    monkeypatch.setattr(services, "hooks_for", real_hooks)
    assert post_callback(Client(), purchase.push, body).json() == ACCEPTED
    assert post_callback(Client(), purchase.push, body).json() == ACCEPTED
    assert balance(owner.business) == 100 and WalletEntry.objects.count() == 1
    assert list(CallbackDelivery.objects.order_by("id").values_list("outcome", flat=True)) == ["received", "applied", "duplicate"]
