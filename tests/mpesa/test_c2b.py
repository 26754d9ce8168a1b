import base64
import json
import secrets

import pytest
import responses
from django.test import Client

from mpesa import c2b
from mpesa.models import C2BReceipt, C2BRegistration, CallbackDelivery
from sales.models import Sale
from tests.conftest import DARAJA, run_parallel, run_worker, setup_paybill

Outcome = CallbackDelivery.Outcome


def make_registration(business, *, accept_unknown_accounts=True, shortcode="174379", **extra):
    return C2BRegistration.objects.create(
        business=business, source_id=extra.pop("source_id", business.pk * 1000), shortcode=shortcode,
        token=secrets.token_hex(32), status=C2BRegistration.Status.REGISTERED,
        accept_unknown_accounts=accept_unknown_accounts, **extra,
    )


def confirmation(**changes):
    body = {
        "TransactionType": "Pay Bill", "TransID": "RKL51ZDR4F", "TransTime": "20231121121325",
        "TransAmount": "5.00", "BusinessShortCode": "174379", "BillRefNumber": "Sample Transaction",
        "InvoiceNumber": "", "OrgAccountBalance": "25.00", "ThirdPartyTransID": "",
        "MSISDN": "2547 ***** 126", "FirstName": "NICHOLAS", "MiddleName": "", "LastName": "",
    }
    body.update(changes)
    return body


def post(client, registration, body, *, validation=False):
    suffix = "validation/" if validation else ""
    data = body if isinstance(body, (bytes, str)) else json.dumps(body)
    return client.post(f"/api/daraja/callback/{registration.token}/{suffix}", data=data, content_type="application/json")


@pytest.fixture
def registration(owner):
    return make_registration(owner.business)


def test_confirmation_is_recorded_with_whole_kes_and_the_masked_msisdn_as_sent(client, registration):
    response = post(client, registration, confirmation())
    assert response.status_code == 200
    assert response.json() == {"ResultCode": 0, "ResultDesc": "Accepted"}
    receipt = C2BReceipt.objects.get()
    assert receipt.trans_id == "RKL51ZDR4F"
    assert receipt.amount == 5
    assert receipt.trans_amount == "5.00"
    assert receipt.msisdn == "2547 ***** 126"
    assert receipt.first_name == "NICHOLAS"
    assert receipt.payer_name == "NICHOLAS"
    assert receipt.bill_ref_number == "Sample Transaction"
    assert receipt.business_id == registration.business_id
    assert receipt.status == C2BReceipt.Status.UNMATCHED
    assert receipt.trans_time.isoformat() == "2023-11-21T09:13:25+00:00"  # 12:13:25 in Nairobi
    assert CallbackDelivery.objects.get().outcome == Outcome.APPLIED


def test_hashed_v1_msisdn_is_kept_as_sent(client, registration):
    hashed = "a" * 64
    post(client, registration, confirmation(MSISDN=hashed))
    assert C2BReceipt.objects.get().msisdn == hashed


def test_duplicate_confirmation_changes_nothing(client, registration):
    post(client, registration, confirmation())
    before = C2BReceipt.objects.values().get()
    response = post(client, registration, confirmation(TransAmount="900.00", BillRefNumber="OTHER"))
    assert response.json() == {"ResultCode": 0, "ResultDesc": "Accepted"}
    assert list(C2BReceipt.objects.values()) == [before]
    assert [d.outcome for d in CallbackDelivery.objects.order_by("id")] == [Outcome.APPLIED, Outcome.DUPLICATE]


def test_cents_go_to_review_and_are_never_rounded(client, registration):
    post(client, registration, confirmation(TransAmount="5.50"))
    receipt = C2BReceipt.objects.get()
    assert receipt.amount is None
    assert receipt.trans_amount == "5.50"
    assert receipt.status == C2BReceipt.Status.REVIEW
    assert receipt.review_reason == "TransAmount 5.50 has cents: M-Pesa moves whole shillings, so it was not rounded."
    assert CallbackDelivery.objects.get().outcome == Outcome.REVIEW


@pytest.mark.parametrize(
    "body, detail",
    [
        (confirmation(TransID=""), "C2B: TransID is missing"),
        (confirmation(TransAmount="abc"), "C2B: TransAmount is not a positive number"),
        (confirmation(TransAmount="-5.00"), "C2B: TransAmount is not a positive number"),
        (confirmation(TransAmount="0"), "C2B: TransAmount is not a positive number"),
        (confirmation(TransAmount=None), "C2B: TransAmount is not a positive number"),
        (confirmation(TransAmount="NaN"), "C2B: TransAmount is not a positive number"),
        (confirmation(BusinessShortCode="600000"), "C2B: BusinessShortCode is not this registration's shortcode"),
        (confirmation(FirstName="A\x00B"), "NUL character in the JSON"),
        (confirmation(TransID="RKL5 1Z"), "C2B: TransID is not alphanumeric"),
        ([1, 2], "C2B: body is not an object"),
    ],
)
def test_bad_confirmations_are_stored_raw_and_credit_nothing(client, registration, body, detail):
    response = post(client, registration, body)
    assert response.status_code == 400
    assert C2BReceipt.objects.count() == 0
    delivery = CallbackDelivery.objects.get()
    assert (delivery.outcome, delivery.detail) == (Outcome.MALFORMED, detail)
    assert delivery.body == json.dumps(body)


def test_a_raw_nul_byte_is_stored_byte_safe_without_a_500(client, registration):
    response = post(client, registration, b'{"TransID": "A\x00"}')
    assert response.status_code == 400
    assert C2BReceipt.objects.count() == 0
    assert CallbackDelivery.objects.get().body == "base64:" + base64.b64encode(b'{"TransID": "A\x00"}').decode()


def test_a_token_that_is_no_configs_records_nothing(client, registration):
    response = client.post(f"/api/daraja/callback/{'f' * 64}/", data=json.dumps(confirmation()), content_type="application/json")
    assert response.json() == {"ResultCode": 0, "ResultDesc": "Accepted"}
    assert C2BReceipt.objects.count() == 0
    assert CallbackDelivery.objects.get().outcome == Outcome.UNKNOWN_TOKEN


def test_a_till_confirmation_may_carry_the_till_number(client, owner):
    registration = make_registration(owner.business, shortcode="7654321", till_number="1234567")
    post(client, registration, confirmation(BusinessShortCode="1234567", TransactionType="Buy Goods", BillRefNumber=""))
    assert C2BReceipt.objects.get().shortcode == "1234567"


def test_validation_accepts_unknown_accounts_when_the_owner_chose_so(client, registration):
    response = post(client, registration, confirmation(BillRefNumber="NOSUCH"), validation=True)
    assert response.json() == {"ResultCode": "0", "ResultDesc": "Accepted"}
    assert C2BReceipt.objects.count() == 0
    assert CallbackDelivery.objects.get().outcome == Outcome.C2B_ACCEPTED


def test_validation_rejects_unknown_accounts_with_c2b00012(client, owner):
    registration = make_registration(owner.business, accept_unknown_accounts=False)
    response = post(client, registration, confirmation(BillRefNumber="NOSUCH"), validation=True)
    assert response.json() == {"ResultCode": "C2B00012", "ResultDesc": "Rejected"}
    assert CallbackDelivery.objects.get().outcome == Outcome.C2B_REJECTED


def test_validation_accepts_an_open_invoice_and_a_till_payment(client, owner):
    from sales.services import invoice_create

    setup_paybill(owner.business)
    registration = make_registration(owner.business, accept_unknown_accounts=False)
    invoice = invoice_create(business=owner.business, amount=250)
    typed = f"  {invoice.account_number.lower()} "
    assert post(client, registration, confirmation(BillRefNumber=typed), validation=True).json()["ResultCode"] == "0"
    assert post(client, registration, confirmation(BillRefNumber=""), validation=True).json()["ResultCode"] == "0"
    Sale.objects.filter(pk=invoice.pk).update(status=Sale.Status.PAID)
    assert post(client, registration, confirmation(BillRefNumber=typed), validation=True).json()["ResultCode"] == "C2B00012"


# --- Registration through a worker ---------------------------------------------------------------


def _register(owner, daraja, *, version="v2", **answer):
    config = setup_paybill(owner.business)
    daraja.add(responses.POST, f"{DARAJA}/mpesa/c2b/{version}/registerurl", **answer)
    with run_worker():
        registration = c2b.c2b_registration_request(
            business=owner.business, source_id=config.pk, shortcode=config.shortcode, version=version, validation_enabled=True,
        )
    registration.refresh_from_db()
    return registration


def test_registering_sends_both_urls_with_the_token(owner, daraja):
    registration = _register(
        owner, daraja, json={"OriginatorCoversationID": "6e86-45dd-91ac-fd5d4178ab523408729", "ResponseCode": "0", "ResponseDescription": "success"},
    )
    assert registration.status == C2BRegistration.Status.REGISTERED
    assert registration.message == "M-Pesa will post payments to PayMe."
    sent = json.loads(daraja.calls[-1].request.body)
    assert sent == {
        "ShortCode": "174379", "ResponseType": "Completed",
        "ConfirmationURL": f"https://payme.test/api/daraja/callback/{registration.token}/",
        "ValidationURL": f"https://payme.test/api/daraja/callback/{registration.token}/validation/",
    }


def test_registering_v1_uses_the_v1_path(owner, daraja):
    registration = _register(owner, daraja, version="v1", json={"OriginatorCoversationID": "x", "ResponseCode": "0", "ResponseDescription": "success"})
    assert registration.status == C2BRegistration.Status.REGISTERED
    assert daraja.calls[-1].request.url == f"{DARAJA}/mpesa/c2b/v1/registerurl"


def test_already_registered_is_reported_in_plain_words(owner, daraja):
    registration = _register(
        owner, daraja, status=500,
        json={"requestId": "1", "errorCode": "500.003.1001", "errorMessage": "Duplicate notification info, SP ID is 107031"},
    )
    assert registration.status == C2BRegistration.Status.FAILED
    assert registration.daraja_error_code == "500.003.1001"
    assert registration.message.startswith("M-Pesa says URLs are already registered for this shortcode.")


def test_api_product_mismatch_is_reported_in_plain_words(owner, daraja):
    registration = _register(
        owner, daraja, status=401,
        json={"requestId": "1", "errorCode": "401.003.01", "errorMessage": "Error Occurred - Invalid Access Token - no apiproduct match found"},
    )
    assert registration.status == C2BRegistration.Status.FAILED
    assert registration.daraja_error_code == "401.003.01"
    assert registration.message.startswith("The Daraja app does not have this C2B API version")


def test_a_second_delivery_of_the_task_sends_nothing(owner, daraja):
    registration = _register(owner, daraja, json={"OriginatorCoversationID": "x", "ResponseCode": "0", "ResponseDescription": "success"})
    calls = len(daraja.calls)
    assert c2b.c2b_registration_send(registration_id=registration.pk) is None
    assert len(daraja.calls) == calls


# --- Concurrency (PostgreSQL) --------------------------------------------------------------------


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_sixteen_concurrent_duplicate_confirmations_record_one_receipt(owner):
    from sales.services import invoice_create

    setup_paybill(owner.business)
    registration = make_registration(owner.business)
    invoice = invoice_create(business=owner.business, amount=5)
    body = confirmation(BillRefNumber=invoice.account_number)
    results = run_parallel(16, lambda: post(Client(), registration, body).status_code)
    assert results == [200] * 16
    receipt = C2BReceipt.objects.get()
    assert receipt.status == C2BReceipt.Status.MATCHED
    invoice.refresh_from_db()
    assert (invoice.status, invoice.mpesa_receipt, invoice.c2b_receipt_id) == (Sale.Status.PAID, "RKL51ZDR4F", receipt.pk)
    outcomes = sorted(CallbackDelivery.objects.values_list("outcome", flat=True))
    assert outcomes == [Outcome.APPLIED] + [Outcome.DUPLICATE] * 15


def test_validation_that_cannot_look_up_accepts_rather_than_refuse_money(client, owner, monkeypatch):
    registration = make_registration(owner.business, accept_unknown_accounts=False)

    def broken(registration, account):
        from django.db import OperationalError

        raise OperationalError("canceling statement due to statement timeout")

    monkeypatch.setitem(c2b._hooks, "c2b", c2b.C2BHooks(on_receipt=c2b.hooks().on_receipt, account_open=broken, credentials_for=c2b.hooks().credentials_for))
    response = post(client, registration, confirmation(BillRefNumber="ANY"), validation=True)
    assert response.json() == {"ResultCode": "0", "ResultDesc": "Accepted"}


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_slow_validation_lookup_is_cut_short_by_the_budget(owner, settings, monkeypatch):
    import time

    from django.db import connection

    settings.MPESA_C2B_VALIDATION_BUDGET_MS = 200
    registration = make_registration(owner.business, accept_unknown_accounts=False)

    def slow(registration, account):
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_sleep(5)")
        return False

    monkeypatch.setitem(c2b._hooks, "c2b", c2b.C2BHooks(on_receipt=c2b.hooks().on_receipt, account_open=slow, credentials_for=c2b.hooks().credentials_for))
    started = time.monotonic()
    response = post(Client(), registration, confirmation(BillRefNumber="ANY"), validation=True)
    assert time.monotonic() - started < 2
    assert response.json() == {"ResultCode": "0", "ResultDesc": "Accepted"}
