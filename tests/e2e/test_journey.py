"""The entire journey over real HTTP: the live server serves the API, the callback view and the
Daraja simulator, which delivers its callbacks over HTTP from a background thread."""

import re
from io import StringIO

import pytest
import requests
from django.core.management import call_command

from mpesa import outcomes

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

OWNER = {"email": "wanjiru@example.com", "password": "Str0ng-pass-123", "full_name": "Wanjiru", "business_name": "Wanjiru Duka", "phone": "0708374149"}


def test_sign_up_to_paid_cart_to_admin(api, live):
    session = api.call("POST", "/api/auth/sign-up", json=OWNER)
    assert session.status_code == 201, session.text
    api.auth(session.json()["access"])
    assert session.json()["setup_needed"] is True

    config = api.call("POST", "/api/payment-config/setup", json={
        "method": "till", "shortcode": "7654321", "till_number": "1234567", "passkey": "e2e-passkey",
        "account_reference": "DUKA", "account_name": "Wanjiru Duka"})
    assert config.status_code == 201, config.text

    verify = api.call("POST", "/api/payment-config/verify", json={})
    assert verify.status_code == 202, verify.text
    config = api.poll("/api/payment-config", "verification_status", lambda s: s != "pending")
    assert config["verified"] is True and config["verification_status"] == "verified"

    purchase = api.call("POST", "/api/wallet-payment/initiate", json={"phone": "0712345678", "amount": 300}, headers={"Idempotency-Key": "buy-1"})
    assert purchase.status_code == 202, purchase.text
    purchase = api.poll(f"/api/wallet-payment/{purchase.json()['id']}", "status", lambda s: s != "pending")
    assert purchase["status"] == "succeeded" and purchase["mpesa_receipt"]
    assert api.call("GET", "/api/wallet").json()["balance"] == 300

    unga = api.call("POST", "/api/products", json={"name": "Unga 2kg", "sku": "UNGA", "price": 230, "stock": 10}).json()
    milk = api.call("POST", "/api/products", json={"name": "Milk", "sku": "MILK", "price": 65, "stock": 5}).json()

    sale = api.call("POST", "/api/sales/payment", json={"phone": "0722000111", "items": [
        {"product_id": unga["id"], "quantity": 2}, {"product_id": milk["id"], "quantity": 1}]})
    assert sale.status_code == 202, sale.text
    assert sale.json()["amount"] == 525
    paid = api.poll(f"/api/sales/{sale.json()['id']}", "status", lambda s: s != "pending")
    assert paid["status"] == "paid" and paid["mpesa_receipt"]
    assert api.call("GET", f"/api/products/{unga['id']}").json()["stock"] == 8
    assert api.call("GET", f"/api/products/{milk['id']}").json()["stock"] == 4

    cancelled = api.call("POST", "/api/sales/payment", json={"phone": "0711000001", "items": [{"product_id": milk["id"], "quantity": 3}]})
    assert cancelled.status_code == 202
    assert api.call("GET", f"/api/products/{milk['id']}").json()["stock"] == 1
    cancelled = api.poll(f"/api/sales/{cancelled.json()['id']}", "status", lambda s: s != "pending")
    assert cancelled["status"] == "cancelled" and cancelled["reason"] == "The customer cancelled the M-Pesa prompt."
    assert api.call("GET", f"/api/products/{milk['id']}").json()["stock"] == 4

    entries = api.call("GET", "/api/wallet/entries").json()["results"]
    assert [(e["kind"], e["tokens"], e["cause"]) for e in entries] == [("credit", 300, "purchase")]

    web = requests.Session()
    login_page = web.get(f"{live.url}/admin/login/", timeout=10)
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', login_page.text).group(1)
    response = web.post(f"{live.url}/admin/login/?next=/admin/", data={
        "csrfmiddlewaretoken": token, "username": OWNER["email"], "password": OWNER["password"], "next": "/admin/"},
        headers={"Referer": f"{live.url}/admin/login/"}, timeout=10)
    assert response.status_code == 200 and "Wanjiru Duka at a glance" in response.text
    assert re.search(r'id="dash-wallet">300 tokens<', response.text)
    assert re.search(r'id="dash-today">KES 525<', response.text)
    assert "Till 1234567: Verified" in response.text
    sales_page = web.get(f"{live.url}/admin/sales/sale/", timeout=10).text
    assert "525" in sales_page and "254711000001" in sales_page
    products_page = web.get(f"{live.url}/admin/sales/product/", timeout=10).text
    assert "Unga 2kg" in products_page and "Milk" in products_page
    assert "e2e-passkey" not in web.get(f"{live.url}/admin/payment_configs/paymentconfig/", timeout=10).text
    call_command("check_wallets", stdout=StringIO())


@pytest.mark.parametrize(
    "phone, status, reason",
    [
        ("0711000001", "cancelled", "The customer cancelled the M-Pesa prompt."),
        ("0711000002", "expired", "The customer did not answer the M-Pesa prompt in time (phone off or prompt ignored)."),
        ("0711000003", "failed", "The customer's M-Pesa balance was not enough for this payment."),
        ("0711000004", "failed", "The customer entered a wrong M-Pesa PIN."),
        # A fresh till that has never been paid through: SFC_IC0003 could be the phone or the numbers.
        ("0711000009", "failed", outcomes.OPERATOR_REASON_EITHER),
        ("0708374149", "paid", ""),
    ],
)
def test_each_magic_number_reaches_its_terminal_state(api, phone, status, reason):
    _owner_with_till(api)
    sale = api.call("POST", "/api/sales/payment", json={"phone": phone, "amount": 10})
    assert sale.status_code == 202, sale.text
    final = api.poll(f"/api/sales/{sale.json()['id']}", "status", lambda s: s != "pending")
    assert (final["status"], final["reason"]) == (status, reason)


def test_duplicate_callback_pays_once(api):
    from mpesa.models import CallbackDelivery
    from sales.models import Sale

    _owner_with_till(api)
    sale = api.call("POST", "/api/sales/payment", json={"phone": "0711000006", "amount": 10}).json()
    api.poll(f"/api/sales/{sale['id']}", "status", lambda s: s != "pending")
    import time

    time.sleep(0.8)
    push = Sale.objects.get(public_id=sale["id"]).push
    assert sorted(CallbackDelivery.objects.filter(push=push).values_list("outcome", flat=True)) == ["applied", "duplicate"]
    assert api.call("GET", f"/api/sales/{sale['id']}").json()["status"] == "paid"


def test_locked_subscriber_fails_the_sale_with_daraja_s_code(api):
    _owner_with_till(api)
    response = api.call("POST", "/api/sales/payment", json={"phone": "0711000008", "amount": 10})
    assert response.status_code == 202 and response.json()["status"] == "pending"
    final = api.poll(f"/api/sales/{response.json()['id']}", "status", lambda s: s != "pending")
    assert (final["status"], final["daraja_error_code"]) == ("failed", "500.001.1001")
    assert final["reason"] == "The customer already has an M-Pesa prompt open. Try again in a minute."


def test_reconciliation_resolves_the_no_callback_case(api):
    _owner_with_till(api)
    sale = api.call("POST", "/api/sales/payment", json={"phone": "0711000005", "amount": 10}).json()
    import time

    _wait_until_sent(sale["id"])
    time.sleep(1.0)  # past the simulated customer's answer: no callback comes for this number
    assert api.call("GET", f"/api/sales/{sale['id']}").json()["status"] == "pending"
    out = StringIO()
    call_command("reconcile_stk_pushes", "--older-than=0", "--expire-after=600", stdout=out)
    assert "resolved=1" in out.getvalue()
    assert api.call("GET", f"/api/sales/{sale['id']}").json()["status"] == "paid"


def test_late_callback_after_expiry_still_pays(api):
    _owner_with_till(api)
    sale = api.call("POST", "/api/sales/payment", json={"phone": "0711000007", "amount": 10}).json()
    _wait_until_sent(sale["id"])  # a push expired before the worker sent it is never sent at all
    call_command("reconcile_stk_pushes", "--older-than=0", "--expire-after=0", stdout=StringIO())
    assert api.call("GET", f"/api/sales/{sale['id']}").json()["status"] == "expired"
    final = api.poll(f"/api/sales/{sale['id']}", "status", lambda s: s == "paid", timeout=8)
    assert final["status"] == "paid"


def _wait_until_sent(sale_id, timeout=5):
    import time

    from sales.models import Sale

    deadline = time.monotonic() + timeout
    while Sale.objects.get(public_id=sale_id).push.status in ("created", "sending"):
        assert time.monotonic() < deadline, "the worker did not send the push"
        time.sleep(0.05)


def _owner_with_till(api):
    session = api.call("POST", "/api/auth/sign-up", json=OWNER).json()
    api.auth(session["access"])
    response = api.call("POST", "/api/payment-config/setup", json={
        "method": "till", "shortcode": "7654321", "till_number": "1234567", "passkey": "e2e-passkey", "account_reference": "DUKA"})
    assert response.status_code == 201
