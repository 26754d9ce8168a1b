"""What a sale's record says after the fact (issue #13): customer_message says what happened,
a sale paid through reconciliation says why its receipt is missing until the callback brings it,
and SFC_IC0003 gets the reason that fits the case."""

from datetime import timedelta

import pytest
import responses
from django.core.management import call_command
from django.test import Client
from django.utils import timezone

from mpesa import outcomes
from mpesa.models import StkPush
from mpesa.selectors import RECEIPT_PENDING_NOTE
from sales.models import Sale
from tests.conftest import DARAJA, accept_push, client_for, failure_callback, post_callback, setup_till, success_callback
from wallet.models import TokenPurchase, Wallet

QUERY = f"{DARAJA}/mpesa/stkpushquery/v1/query"
SENT = "Success. Request accepted for processing"


@pytest.fixture
def till_owner(owner):
    setup_till(owner.business)
    return owner


def start_sale(owner, daraja, phone="0708374149", amount=100):
    accept_push(daraja)
    response = client_for(owner).post("/api/sales/payment", {"phone": phone, "amount": amount}, format="json")
    assert response.status_code == 202, response.content
    return response.json()["id"]


def read(owner, sale_id):
    return client_for(owner).get(f"/api/sales/{sale_id}").json()


def push_of(sale_id):
    return Sale.objects.get(public_id=sale_id).push


def settle_by_query(daraja, push):
    StkPush.objects.filter(pk=push.pk).update(created_at=timezone.now() - timedelta(seconds=120))
    daraja.add(responses.POST, QUERY, json={
        "ResponseCode": "0", "ResponseDescription": "accepted", "MerchantRequestID": "m",
        "CheckoutRequestID": push.checkout_request_id, "ResultCode": "0", "ResultDesc": "The service request is processed successfully.",
    })
    call_command("reconcile_stk_pushes", older_than=60, expire_after=600, stdout=open("/dev/null", "w"))


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("code", "desc", "message"),
    [
        (1032, "Request cancelled by user", "The customer cancelled the M-Pesa prompt."),
        (1, "The balance is insufficient for the transaction.", outcomes._REASONS["1"]),
        (1037, "DS timeout user cannot be reached", outcomes._REASONS["1037"]),
    ],
)
def test_customer_message_says_what_happened_once_the_prompt_is_over(till_owner, daraja, code, desc, message):
    sale_id = start_sale(till_owner, daraja)
    assert read(till_owner, sale_id)["customer_message"] == SENT  # the prompt is live
    push = push_of(sale_id)
    post_callback(Client(), push, failure_callback(push, code, desc))
    sale = read(till_owner, sale_id)
    assert sale["status"] in ("cancelled", "failed", "expired")
    assert (sale["customer_message"], sale["reason"]) == (message, message)
    listed = client_for(till_owner).get("/api/sales").json()["results"][0]
    assert listed["customer_message"] == message


@pytest.mark.django_db
def test_customer_message_on_a_paid_sale_gives_the_receipt(till_owner, daraja):
    sale_id = start_sale(till_owner, daraja)
    push = push_of(sale_id)
    post_callback(Client(), push, success_callback(push, receipt="NLJ7RT61SV"))
    sale = read(till_owner, sale_id)
    assert (sale["status"], sale["mpesa_receipt"], sale["receipt_pending"]) == ("paid", "NLJ7RT61SV", False)
    assert sale["customer_message"] == "Paid: M-Pesa receipt NLJ7RT61SV."


@pytest.mark.django_db
def test_a_sale_paid_by_reconciliation_says_its_receipt_is_pending_until_the_callback_fills_it(till_owner, daraja):
    sale_id = start_sale(till_owner, daraja)
    push = push_of(sale_id)
    settle_by_query(daraja, push)
    sale = read(till_owner, sale_id)
    assert (sale["status"], sale["mpesa_receipt"], sale["receipt_pending"]) == ("paid", "", True)
    assert sale["customer_message"] == RECEIPT_PENDING_NOTE
    paid_at = sale["paid_at"]

    push.refresh_from_db()
    assert post_callback(Client(), push, success_callback(push, receipt="RCPT000001")).status_code == 200
    sale = read(till_owner, sale_id)
    assert (sale["status"], sale["mpesa_receipt"], sale["receipt_pending"]) == ("paid", "RCPT000001", False)
    assert sale["customer_message"] == "Paid: M-Pesa receipt RCPT000001."
    assert sale["paid_at"] == paid_at
    row = Sale.objects.get(public_id=sale_id)
    assert (row.mpesa_receipt, row.stock_state, row.needs_review) == ("RCPT000001", "none", False)
    # A second copy of the callback changes nothing.
    assert post_callback(Client(), push, success_callback(push, receipt="RCPT000001")).status_code == 200
    assert Sale.objects.get(public_id=sale_id).mpesa_receipt == "RCPT000001"


@pytest.mark.django_db
def test_a_purchase_settled_by_reconciliation_takes_its_receipt_from_the_late_callback(owner, daraja):
    accept_push(daraja)
    response = client_for(owner).post("/api/wallet-payment/initiate", {"phone": "0708374149", "amount": 100}, format="json")
    purchase_id = response.json()["id"]
    push = TokenPurchase.objects.get(public_id=purchase_id).push
    settle_by_query(daraja, push)
    read_back = client_for(owner).get(f"/api/wallet-payment/{purchase_id}").json()
    assert (read_back["status"], read_back["mpesa_receipt"], read_back["receipt_pending"]) == ("succeeded", "", True)
    assert read_back["customer_message"] == RECEIPT_PENDING_NOTE
    push.refresh_from_db()
    post_callback(Client(), push, success_callback(push, receipt="RCPT000002"))
    read_back = client_for(owner).get(f"/api/wallet-payment/{purchase_id}").json()
    assert (read_back["mpesa_receipt"], read_back["receipt_pending"]) == ("RCPT000002", False)
    assert Wallet.objects.get(business=owner.business).balance == 100  # credited once


@pytest.mark.django_db
def test_sfc_ic0003_reason_fits_the_case(till_owner, daraja):
    # No payment has gone through these numbers yet: the reason names both possibilities.
    first = start_sale(till_owner, daraja, phone="0711000009")
    push = push_of(first)
    post_callback(Client(), push, failure_callback(push, "SFC_IC0003", "The operator does not exist"))
    assert read(till_owner, first)["reason"] == outcomes.OPERATOR_REASON_EITHER

    # Once a payment went through the same till and store number, it is the phone.
    paid = start_sale(till_owner, daraja, phone="0722000111")
    push = push_of(paid)
    post_callback(Client(), push, success_callback(push))
    second = start_sale(till_owner, daraja, phone="0711000009")
    push = push_of(second)
    post_callback(Client(), push, failure_callback(push, "SFC_IC0003", "The operator does not exist"))
    assert read(till_owner, second)["reason"] == outcomes.OPERATOR_REASON_PHONE


@pytest.mark.django_db
def test_sfc_ic0003_on_a_till_numbered_like_its_store_blames_the_numbers(owner, daraja):
    setup_till(owner.business, shortcode="7654321", till_number="7654321")  # as an old row could be
    sale_id = start_sale(owner, daraja)
    push = push_of(sale_id)
    post_callback(Client(), push, failure_callback(push, "SFC_IC0003", "The operator does not exist"))
    assert read(owner, sale_id)["reason"] == outcomes.OPERATOR_REASON_NUMBERS
