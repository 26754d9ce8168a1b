"""Money out over real HTTP: the API, the worker, the simulator's B2C and reversal, and their
results posted back to our callback view."""

import pytest

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

OWNER = {"email": "akinyi@example.com", "password": "Str0ng-pass-123", "full_name": "Akinyi", "business_name": "Akinyi Duka",
         "phone": "0708374149"}
INITIATOR = {"shortcode": "600996", "initiator_name": "testapi", "initiator_password": "Safaricom999!*!",
             "max_per_payout": 70_000, "daily_max": 300_000, "approval_threshold": 10_000}


def _owner(api, payouts=True):
    session = api.call("POST", "/api/auth/sign-up", json=OWNER).json()
    api.auth(session["access"])
    assert api.call("POST", "/api/payment-config/setup", json={
        "method": "till", "shortcode": "7654321", "till_number": "1234567", "passkey": "e2e-passkey",
        "account_reference": "DUKA"}).status_code == 201
    if payouts:
        response = api.call("POST", "/api/payout-config/setup", json=INITIATOR)
        assert response.status_code == 201, response.text
        assert "Safaricom999" not in response.text


def _paid_cart(api, stock=10, quantity=2):
    product = api.call("POST", "/api/products", json={"name": "Unga 2kg", "sku": "UNGA", "price": 230, "stock": stock}).json()
    sale = api.call("POST", "/api/sales/payment", json={"phone": "0722000111", "items": [{"product_id": product["id"], "quantity": quantity}]})
    assert sale.status_code == 202, sale.text
    paid = api.poll(f"/api/sales/{sale.json()['id']}", "status", lambda s: s != "pending")
    assert paid["status"] == "paid"
    return product, paid


def test_payout_succeeds_with_receipt_and_recipient_name(api):
    _owner(api)
    response = api.call("POST", "/api/payouts", json={"phone": "0705912645", "amount": 1500, "remarks": "Supplier"},
                        headers={"Idempotency-Key": "pay-1"})
    assert response.status_code == 202, response.text
    final = api.poll(f"/api/payouts/{response.json()['id']}", "status", lambda s: s not in ("pending", "awaiting_approval"))
    assert (final["status"], final["recipient_name"], final["reason"]) == ("succeeded", "JOHN DOE", "")
    assert len(final["receipt"]) == 10


def test_insufficient_balance_fails_with_its_reason(api):
    _owner(api)
    response = api.call("POST", "/api/payouts", json={"phone": "0711000003", "amount": 100, "remarks": "Supplier"})
    final = api.poll(f"/api/payouts/{response.json()['id']}", "status", lambda s: s != "pending")
    assert (final["status"], final["reason"]) == (
        "failed", "The B2C account does not hold enough money for this payment. Top up the utility account.")


def test_wrong_initiator_password_says_it_may_have_expired(api):
    _owner(api, payouts=False)
    api.call("POST", "/api/payout-config/setup", json={**INITIATOR, "initiator_password": "Wrong-password-1"})
    response = api.call("POST", "/api/payouts", json={"phone": "0705912645", "amount": 100, "remarks": "Supplier"})
    final = api.poll(f"/api/payouts/{response.json()['id']}", "status", lambda s: s != "pending")
    assert final["status"] == "failed"
    assert "expire after 90 days" in final["reason"]


def test_whole_refund_of_a_paid_cart_reverses_and_restocks(api):
    _owner(api)
    product, sale = _paid_cart(api)
    assert api.call("GET", f"/api/products/{product['id']}").json()["stock"] == 8
    refund = api.call("POST", f"/api/sales/{sale['id']}/refunds", json={"restock": True})
    assert refund.status_code == 202, refund.text
    assert refund.json()["method"] == "reversal"
    final = api.poll(f"/api/payouts/{refund.json()['id']}", "status", lambda s: s != "pending")
    assert final["status"] == "succeeded", final
    sale = api.call("GET", f"/api/sales/{sale['id']}").json()
    assert (sale["status"], sale["refunded_amount"]) == ("refunded", 460)
    assert api.call("GET", f"/api/products/{product['id']}").json()["stock"] == 10


def test_partial_refund_then_the_rest_and_an_over_refund_is_refused(api):
    _owner(api)
    _, sale = _paid_cart(api)
    url = f"/api/sales/{sale['id']}/refunds"
    first = api.call("POST", url, json={"amount": 160})
    assert first.json()["method"] == "b2c"
    assert api.poll(f"/api/payouts/{first.json()['id']}", "status", lambda s: s != "pending")["status"] == "succeeded"
    assert api.call("GET", f"/api/sales/{sale['id']}").json()["status"] == "partially_refunded"
    over = api.call("POST", url, json={"amount": 301})
    assert (over.status_code, over.json()["error"]["code"]) == (422, "refund_exceeds_paid")
    rest = api.call("POST", url, json={})
    assert rest.json()["amount"] == 300
    assert api.poll(f"/api/payouts/{rest.json()['id']}", "status", lambda s: s != "pending")["status"] == "succeeded"
    final = api.call("GET", f"/api/sales/{sale['id']}").json()
    assert (final["status"], final["refunded_amount"]) == ("refunded", 460)
    assert [r["status"] for r in api.call("GET", url).json()] == ["succeeded", "succeeded"]
