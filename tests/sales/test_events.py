"""Events of invoices, C2B payments and refunds: written in the transaction of the change, once."""

import pytest
from django.test import Client

from mpesa.models import C2BReceipt
from sales.models import Sale
from tests.conftest import setup_paybill
from tests.mpesa.test_c2b import confirmation, make_registration, post
from tests.sales.test_invoices import create_invoice, pay
from tests.webhooks.subscriptions import assert_no_secret, events_of, subscribe
from webhooks.models import WebhookEvent


@pytest.fixture
def registration(owner):
    setup_paybill(owner.business)
    subscribe(owner.business)
    return make_registration(owner.business)


def test_a_confirmation_that_pays_an_invoice_emits_invoice_paid_and_c2b_received_once(api, owner, registration):
    invoice = create_invoice(api, amount=230, description="Unga")
    pay(registration, invoice)
    pay(registration, invoice)  # Daraja repeats the confirmation: nothing more
    receipt = C2BReceipt.objects.get()
    sale = Sale.objects.get()
    [paid] = events_of(owner.business, "invoice.paid")
    [received] = events_of(owner.business, "c2b.received")
    assert paid["data"] == {
        "object": "sale", "id": invoice["id"], "status": "paid", "amount": 230, "phone": "",
        "account_reference": invoice["account_number"], "description": "Unga", "mpesa_receipt": "RKL51ZDR4F", "reason": "",
        "paid_at": "2023-11-21T12:13:25+03:00", "needs_review": False, "created_at": sale.created_at.isoformat(),
        "account_number": invoice["account_number"], "paybill": "174379", "c2b_payment_id": str(receipt.public_id),
    }
    assert received["data"] == {
        "object": "c2b_payment", "id": str(receipt.public_id), "status": "matched", "receipt": "RKL51ZDR4F",
        "transaction_type": "Pay Bill", "amount": 230, "trans_amount": "230.00", "shortcode": "174379",
        "account_number": invoice["account_number"], "msisdn": "2547 ***** 126", "payer_name": "NICHOLAS",
        "paid_at": "2023-11-21T12:13:25+03:00", "review_reason": "", "sale_id": invoice["id"],
        "created_at": receipt.created_at.isoformat(),
    }
    assert (paid["type"], received["type"]) == ("invoice.paid", "c2b.received")
    for payload in (paid, received):
        assert_no_secret(payload, registration.token)
        assert "raw" not in payload["data"]
    assert WebhookEvent.objects.count() == 2


def test_an_unmatched_payment_emits_c2b_received_and_the_owners_match_emits_invoice_paid(api, owner, registration):
    invoice = create_invoice(api, amount=5)
    post(Client(), registration, confirmation(TransactionType="Buy Goods", BillRefNumber=""))
    [received] = events_of(owner.business, "c2b.received")
    assert (received["data"]["status"], received["data"]["sale_id"], received["data"]["amount"]) == ("unmatched", None, 5)
    assert events_of(owner.business, "invoice.paid") == []
    payment_id = received["data"]["id"]
    assert api.post(f"/api/c2b-payments/{payment_id}/match", {"sale_id": invoice["id"]}, format="json").status_code == 200
    again = api.post(f"/api/c2b-payments/{payment_id}/match", {"sale_id": invoice["id"]}, format="json")
    assert again.status_code == 409
    [paid] = events_of(owner.business, "invoice.paid")
    assert (paid["data"]["id"], paid["data"]["status"], paid["data"]["c2b_payment_id"]) == (invoice["id"], "paid", payment_id)
    assert len(events_of(owner.business, "c2b.received")) == 1


def test_a_payment_of_the_wrong_amount_is_received_but_pays_nothing(api, owner, registration):
    invoice = create_invoice(api, amount=6)
    pay(registration, invoice, amount=5)
    [received] = events_of(owner.business, "c2b.received")
    assert (received["data"]["status"], received["data"]["amount"]) == ("review", 5)
    assert received["data"]["review_reason"] == f"Paid KES 5 to invoice {invoice['account_number']} of KES 6: refund or settle by hand."
    assert events_of(owner.business, "invoice.paid") == []


def test_no_endpoint_no_event(api, owner):
    setup_paybill(owner.business)
    registration = make_registration(owner.business)
    invoice = create_invoice(api, amount=230)
    pay(registration, invoice)
    assert Sale.objects.get().status == "paid"
    assert WebhookEvent.objects.count() == 0
