import re
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from mpesa.models import C2BReceipt
from sales.models import Product, Sale, StockMovement
from sales.services import invoice_expire_due, product_create
from sales.tasks import invoice_expire_due_task
from tests.conftest import client_for, error_of, setup_paybill, setup_till
from tests.mpesa.test_c2b import confirmation, make_registration, post

ACCOUNT_RE = re.compile(r"^[2-9A-HJ-NP-Z]{8}$")


def stock(product):
    return Product.objects.get(pk=product.pk).stock


@pytest.fixture
def paybill_owner(owner):
    setup_paybill(owner.business)
    return owner


@pytest.fixture
def registration(paybill_owner):
    return make_registration(paybill_owner.business)


@pytest.fixture
def unga(paybill_owner):
    return product_create(business=paybill_owner.business, name="Unga", sku="UNGA", price=230, stock=10)


def create_invoice(api, **body):
    response = api.post("/api/sales/invoice", body, format="json")
    assert response.status_code == 201, response.content
    return response.json()


def pay(registration, invoice, *, amount=None, account=None, trans_id="RKL51ZDR4F"):
    body = confirmation(
        TransID=trans_id, TransAmount=f"{amount if amount is not None else invoice['amount']}.00",
        BillRefNumber=account if account is not None else invoice["account_number"],
    )
    response = post(Client(), registration, body)
    assert response.json() == {"ResultCode": 0, "ResultDesc": "Accepted"}


def test_an_invoice_answers_the_paybill_and_a_short_unambiguous_account_number(api, paybill_owner, settings):
    settings.SALES_INVOICE_EXPIRY_SECONDS = 600
    before = timezone.now()
    body = create_invoice(api, amount="1140.83", description="Parking")
    assert body["status"] == "awaiting_payment"
    assert body["channel"] == "c2b"
    assert body["amount"] == 1141
    assert body["paybill"] == "174379"
    assert ACCOUNT_RE.match(body["account_number"])
    assert body["account_reference"] == body["account_number"]
    assert body["phone"] == ""
    sale = Sale.objects.get(public_id=body["id"])
    assert sale.push_id is None
    assert timedelta(seconds=599) < sale.expires_at - before < timedelta(seconds=601)


def test_a_till_cannot_take_invoices(api, owner):
    setup_till(owner.business)
    response = api.post("/api/sales/invoice", {"amount": 100}, format="json")
    assert response.status_code == 409
    assert error_of(response)["code"] == "paybill_required"
    assert Sale.objects.count() == 0


def test_bad_invoice_input_names_the_field_and_writes_nothing(api, paybill_owner, unga):
    for body, field in [({}, "amount"), ({"amount": 0}, "amount"), ({"amount": "x"}, "amount"),
                        ({"items": []}, "items"), ({"amount": 5, "phone": "12"}, "phone")]:
        response = api.post("/api/sales/invoice", body, format="json")
        assert response.status_code == 400, body
        assert field in error_of(response)["fields"], body
    response = api.post("/api/sales/invoice", {"items": [{"product_id": str(unga.public_id), "quantity": 11}]}, format="json")
    assert error_of(response)["code"] == "insufficient_stock"
    assert Sale.objects.count() == 0
    assert stock(unga) == 10


def test_exact_amount_to_the_account_number_pays_the_invoice_case_insensitive_and_trimmed(api, registration, unga):
    invoice = create_invoice(api, items=[{"product_id": str(unga.public_id), "quantity": 2}])
    assert invoice["amount"] == 460
    assert stock(unga) == 8
    pay(registration, invoice, account=f"  {invoice['account_number'].lower()} ")
    sale = Sale.objects.get(public_id=invoice["id"])
    assert (sale.status, sale.mpesa_receipt, sale.stock_state) == ("paid", "RKL51ZDR4F", "committed")
    assert sale.paid_at.isoformat() == "2023-11-21T09:13:25+00:00"
    receipt = C2BReceipt.objects.get()
    assert (receipt.status, sale.c2b_receipt_id) == ("matched", receipt.pk)
    assert stock(unga) == 8
    body = api.get(f"/api/sales/{invoice['id']}").json()
    assert (body["status"], body["mpesa_receipt"]) == ("paid", "RKL51ZDR4F")


def test_a_different_amount_goes_to_review_and_pays_nothing(api, registration, unga):
    invoice = create_invoice(api, items=[{"product_id": str(unga.public_id), "quantity": 1}])
    pay(registration, invoice, amount=200)
    sale = Sale.objects.get(public_id=invoice["id"])
    assert (sale.status, sale.mpesa_receipt, sale.stock_state, sale.needs_review) == ("awaiting_payment", "", "reserved", True)
    reason = f"Paid KES 200 to invoice {invoice['account_number']} of KES 230: refund or settle by hand."
    assert sale.review_reason == reason
    receipt = C2BReceipt.objects.get()
    assert (receipt.status, receipt.review_reason) == ("review", reason)


def test_cents_to_an_invoice_go_to_review(api, registration):
    invoice = create_invoice(api, amount=100)
    post(Client(), registration, confirmation(TransAmount="100.40", BillRefNumber=invoice["account_number"]))
    sale = Sale.objects.get(public_id=invoice["id"])
    assert (sale.status, sale.needs_review) == ("awaiting_payment", True)
    receipt = C2BReceipt.objects.get()
    assert (receipt.status, receipt.amount) == ("review", None)
    assert receipt.review_reason.startswith("TransAmount 100.40 has cents")


def test_a_second_payment_to_a_paid_invoice_goes_to_review(api, registration):
    invoice = create_invoice(api, amount=100)
    pay(registration, invoice)
    pay(registration, invoice, trans_id="RKL51ZDR4G")
    second = C2BReceipt.objects.get(trans_id="RKL51ZDR4G")
    assert (second.status, second.review_reason) == ("review", f"Paid to invoice {invoice['account_number']}, which is already paid.")
    assert Sale.objects.get(public_id=invoice["id"]).mpesa_receipt == "RKL51ZDR4F"


def test_another_business_cannot_be_paid_through_this_paybill(api, registration, make_owner):
    other = make_owner()
    setup_paybill(other.business)
    foreign = create_invoice(client_for(other), amount=100)
    pay(registration, foreign)
    assert Sale.objects.get(public_id=foreign["id"]).status == "awaiting_payment"
    assert C2BReceipt.objects.get().status == "unmatched"


def test_expiry_releases_the_stock_and_a_late_exact_payment_still_pays(api, registration, unga, settings):
    invoice = create_invoice(api, items=[{"product_id": str(unga.public_id), "quantity": 3}])
    assert stock(unga) == 7
    assert invoice_expire_due(now=timezone.now() + timedelta(seconds=settings.SALES_INVOICE_EXPIRY_SECONDS - 5)) == 0
    Sale.objects.filter(public_id=invoice["id"]).update(expires_at=timezone.now() - timedelta(seconds=1))
    invoice_expire_due_task.delay()
    sale = Sale.objects.get(public_id=invoice["id"])
    assert (sale.status, sale.stock_state, sale.reason) == ("expired", "released", "The invoice was not paid in time.")
    assert stock(unga) == 10
    assert invoice_expire_due() == 0
    assert StockMovement.objects.filter(sale=sale, reason="release").count() == 1
    pay(registration, invoice)
    sale.refresh_from_db()
    assert (sale.status, sale.stock_state, sale.needs_review) == ("paid", "committed", False)
    assert stock(unga) == 7


# --- Unmatched payments --------------------------------------------------------------------------


def test_an_unmatched_till_payment_is_listed_and_the_owner_attaches_it(api, registration):
    invoice = create_invoice(api, amount=5)
    post(Client(), registration, confirmation(TransactionType="Buy Goods", BillRefNumber=""))
    listed = api.get("/api/c2b-payments?status=unmatched").json()
    assert listed["count"] == 1
    payment = listed["results"][0]
    assert payment == {
        "id": payment["id"], "status": "unmatched", "receipt": "RKL51ZDR4F", "transaction_type": "Buy Goods",
        "amount": 5, "trans_amount": "5.00", "shortcode": "174379", "account_number": "", "msisdn": "2547 ***** 126",
        "payer_name": "NICHOLAS", "paid_at": payment["paid_at"], "review_reason": "", "sale_id": None,
        "created_at": payment["created_at"],
    }
    response = api.post(f"/api/c2b-payments/{payment['id']}/match", {"sale_id": invoice["id"]}, format="json")
    assert response.status_code == 200, response.content
    assert (response.json()["status"], response.json()["mpesa_receipt"]) == ("paid", "RKL51ZDR4F")
    detail = api.get(f"/api/c2b-payments/{payment['id']}").json()
    assert (detail["status"], detail["sale_id"]) == ("matched", invoice["id"])
    again = api.post(f"/api/c2b-payments/{payment['id']}/match", {"sale_id": invoice["id"]}, format="json")
    assert (again.status_code, error_of(again)["code"]) == (409, "c2b_payment_not_unmatched")


def test_matching_a_different_amount_is_refused_and_changes_nothing(api, registration):
    invoice = create_invoice(api, amount=6)
    post(Client(), registration, confirmation(BillRefNumber="WRONG"))
    payment = C2BReceipt.objects.get()
    response = api.post(f"/api/c2b-payments/{payment.public_id}/match", {"sale_id": invoice["id"]}, format="json")
    assert (response.status_code, error_of(response)["code"]) == (409, "amount_mismatch")
    assert C2BReceipt.objects.get().status == "unmatched"
    assert Sale.objects.get(public_id=invoice["id"]).status == "awaiting_payment"


def test_matching_needs_an_unpaid_invoice(api, registration, daraja):
    post(Client(), registration, confirmation(BillRefNumber="WRONG"))
    payment = C2BReceipt.objects.get()
    paid = create_invoice(api, amount=5)
    Sale.objects.filter(public_id=paid["id"]).update(status="paid")
    response = api.post(f"/api/c2b-payments/{payment.public_id}/match", {"sale_id": paid["id"]}, format="json")
    assert (response.status_code, error_of(response)["code"]) == (409, "sale_not_open")
    response = api.post(f"/api/c2b-payments/{payment.public_id}/match", {"sale_id": "nope"}, format="json")
    assert (response.status_code, list(error_of(response)["fields"])) == (400, ["sale_id"])
    assert C2BReceipt.objects.get().status == "unmatched"


def test_another_businesss_payment_or_invoice_is_a_404(api, registration, make_owner):
    other = make_owner()
    setup_paybill(other.business)
    other_api = client_for(other)
    foreign_invoice = create_invoice(other_api, amount=5)
    own_invoice = create_invoice(api, amount=5)
    post(Client(), registration, confirmation(BillRefNumber="WRONG"))
    payment = C2BReceipt.objects.get()
    assert other_api.get(f"/api/c2b-payments/{payment.public_id}").status_code == 404
    assert other_api.get("/api/c2b-payments").json()["count"] == 0
    response = other_api.post(f"/api/c2b-payments/{payment.public_id}/match", {"sale_id": foreign_invoice["id"]}, format="json")
    assert response.status_code == 404
    response = api.post(f"/api/c2b-payments/{payment.public_id}/match", {"sale_id": foreign_invoice["id"]}, format="json")
    assert response.status_code == 404
    assert other_api.get(f"/api/sales/{own_invoice['id']}").status_code == 404
    assert C2BReceipt.objects.get().status == "unmatched"
    assert Sale.objects.filter(status="paid").count() == 0


def test_cashiers_take_invoices_but_do_not_see_c2b_payments(paybill_owner, cashier):
    cashier_api = client_for(cashier)
    assert cashier_api.post("/api/sales/invoice", {"amount": 5}, format="json").status_code == 201
    assert cashier_api.get("/api/c2b-payments").status_code == 403
