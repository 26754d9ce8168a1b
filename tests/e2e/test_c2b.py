"""C2B over real HTTP: the owner registers the URLs (a worker calls the simulator), the customer
pays from the phone menu (the simulator's c2b/v2/simulate posts validation, then confirmation, to
the registered URLs), and PayMe matches the payment to an invoice or lists it for the owner."""

import time

import pytest
import requests

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

OWNER = {"email": "akinyi@example.com", "password": "Str0ng-pass-123", "full_name": "Akinyi", "business_name": "Akinyi Hardware", "phone": "0708374149"}
PAYBILL = "600987"


def _owner_with_paybill(api, **register):
    session = api.call("POST", "/api/auth/sign-up", json=OWNER).json()
    api.auth(session["access"])
    response = api.call("POST", "/api/payment-config/setup", json={
        "method": "paybill", "shortcode": PAYBILL, "passkey": "e2e-paybill-passkey", "account_reference": "HARDWARE"})
    assert response.status_code == 201, response.text
    response = api.call("POST", "/api/payment-config/c2b/register", json={"validation": True, **register})
    assert response.status_code == 202 and response.json()["status"] == "queued", response.text
    state = api.poll("/api/payment-config/c2b", "status", lambda s: s in ("registered", "failed"))
    assert (state["status"], state["message"]) == ("registered", "M-Pesa will post payments to PayMe."), state


def _customer_pays(api, *, amount, account="", command="CustomerPayBillOnline"):
    from mpesa.daraja import DarajaClient
    from payment_configs.selectors import platform_credentials

    token = DarajaClient(credentials=platform_credentials()).access_token()
    response = requests.post(
        f"{api.base}/simulator/daraja/mpesa/c2b/v2/simulate",
        json={"ShortCode": PAYBILL, "CommandID": command, "Amount": amount, "Msisdn": "254708374149", "BillRefNumber": account},
        headers={"Authorization": f"Bearer {token}"}, timeout=10,
    )
    assert response.status_code == 200 and response.json()["ResponseCode"] == "0", response.text


def _wait_for_payments(api, count, timeout=8):
    deadline = time.monotonic() + timeout
    while True:
        body = api.call("GET", "/api/c2b-payments").json()
        if body["count"] >= count or time.monotonic() > deadline:
            return body["results"]
        time.sleep(0.1)


def test_an_invoice_paid_from_the_phone_menu(api):
    _owner_with_paybill(api)
    unga = api.call("POST", "/api/products", json={"name": "Cement", "sku": "CEM", "price": 750, "stock": 4}).json()
    invoice = api.call("POST", "/api/sales/invoice", json={"items": [{"product_id": unga["id"], "quantity": 2}]}, headers={"Idempotency-Key": "inv-1"})
    assert invoice.status_code == 201, invoice.text
    invoice = invoice.json()
    assert (invoice["status"], invoice["amount"], invoice["paybill"]) == ("awaiting_payment", 1500, PAYBILL)
    assert api.call("GET", f"/api/products/{unga['id']}").json()["stock"] == 2

    _customer_pays(api, amount=1500, account=f" {invoice['account_number'].lower()} ")
    paid = api.poll(f"/api/sales/{invoice['id']}", "status", lambda s: s != "awaiting_payment")
    assert paid["status"] == "paid" and paid["mpesa_receipt"]
    payment = _wait_for_payments(api, 1)[0]
    assert (payment["status"], payment["receipt"], payment["amount"], payment["sale_id"]) == ("matched", paid["mpesa_receipt"], 1500, invoice["id"])
    assert payment["msisdn"] == "2547 ***** 149"
    assert api.call("GET", f"/api/products/{unga['id']}").json()["stock"] == 2


def test_a_wrong_amount_goes_to_review(api):
    _owner_with_paybill(api)
    invoice = api.call("POST", "/api/sales/invoice", json={"amount": 500}).json()
    _customer_pays(api, amount=450, account=invoice["account_number"])
    payment = _wait_for_payments(api, 1)[0]
    assert payment["status"] == "review"
    assert payment["review_reason"] == f"Paid KES 450 to invoice {invoice['account_number']} of KES 500: refund or settle by hand."
    sale = api.call("GET", f"/api/sales/{invoice['id']}").json()
    assert (sale["status"], sale["needs_review"]) == ("awaiting_payment", True)


def test_an_unmatched_till_style_payment_is_matched_by_the_owner(api):
    _owner_with_paybill(api)
    invoice = api.call("POST", "/api/sales/invoice", json={"amount": 120}).json()
    _customer_pays(api, amount=120, command="CustomerBuyGoodsOnline")
    payment = _wait_for_payments(api, 1)[0]
    assert (payment["status"], payment["transaction_type"], payment["account_number"]) == ("unmatched", "Buy Goods", "")
    response = api.call("POST", f"/api/c2b-payments/{payment['id']}/match", json={"sale_id": invoice["id"]})
    assert response.status_code == 200, response.text
    assert (response.json()["status"], response.json()["mpesa_receipt"]) == ("paid", payment["receipt"])


def test_validation_rejects_an_unknown_account_when_the_owner_chose_so(api):
    from mpesa.models import CallbackDelivery

    _owner_with_paybill(api, accept_unknown_accounts=False)
    _customer_pays(api, amount=100, account="NOSUCH")
    deadline = time.monotonic() + 5
    while not CallbackDelivery.objects.filter(outcome="c2b_rejected").exists():
        assert time.monotonic() < deadline, "no validation request arrived"
        time.sleep(0.1)
    time.sleep(0.5)
    assert api.call("GET", "/api/c2b-payments").json()["count"] == 0


def test_a_duplicate_confirmation_pays_the_invoice_once(api):
    from mpesa.models import CallbackDelivery

    _owner_with_paybill(api)
    invoice = api.call("POST", "/api/sales/invoice", json={"amount": 4006}).json()
    _customer_pays(api, amount=4006, account=invoice["account_number"])  # magic amount: the confirmation is posted twice
    paid = api.poll(f"/api/sales/{invoice['id']}", "status", lambda s: s != "awaiting_payment")
    assert paid["status"] == "paid"
    deadline = time.monotonic() + 5
    while not CallbackDelivery.objects.filter(outcome="duplicate", detail__startswith="C2B ").exists():
        assert time.monotonic() < deadline, "the second confirmation did not arrive"
        time.sleep(0.1)
    payments = api.call("GET", "/api/c2b-payments").json()
    assert payments["count"] == 1
    payment = payments["results"][0]
    assert (payment["status"], payment["receipt"], payment["amount"], payment["sale_id"]) == ("matched", paid["mpesa_receipt"], 4006, invoice["id"])
    assert api.call("GET", f"/api/sales/{invoice['id']}").json()["status"] == "paid"
