"""GET /api/sales/<id>/timeline and GET /api/wallet-payment/<id>/timeline: a payment's story in
plain words, built from the push, its callback deliveries, stock movements and ledger entries."""

from datetime import timedelta

import pytest
import responses
from django.test import Client
from django.utils import timezone

from mpesa.models import StkPush
from mpesa.services import stk_push_reconcile
from sales.services import product_create
from tests.conftest import (
    DARAJA,
    accept_push,
    client_for,
    error_of,
    failure_callback,
    post_callback,
    run_worker,
    setup_till,
    success_callback,
)
from wallet.services import wallet_credit


@pytest.fixture
def till_owner(owner):
    setup_till(owner.business)
    return owner


def steps_of(response):
    assert response.status_code == 200, response.content
    return [(step["kind"], step["text"]) for step in response.json()["steps"]]


@pytest.mark.django_db
def test_a_paid_cart_sale_tells_its_story_in_order(till_owner, cashier, daraja, settings):
    settings.SALES_TOKEN_FEE = 2
    wallet_credit(business=till_owner.business, tokens=10, cause="adjustment", reference="seed-1")
    unga = product_create(business=till_owner.business, name="Unga", sku="UNGA", price=230, stock=10)
    accept_push(daraja, "ws_CO_TIMELINE0001")
    sale = client_for(cashier).post("/api/sales/payment", {"phone": "0708374149", "items": [{"product_id": str(unga.public_id), "quantity": 2}]},
                                    format="json").json()
    push = StkPush.objects.get()
    with run_worker():
        post_callback(Client(), push, success_callback(push, receipt="TLN1RT61SV"))
        post_callback(Client(), push, success_callback(push, receipt="TLN1RT61SV"))
    response = client_for(cashier).get(f"/api/sales/{sale['id']}/timeline")
    assert response.json()["id"] == sale["id"]
    assert steps_of(response) == [
        ("created", "Sale started by Cashier: KES 460 asked of 254708374149."),
        ("stock", "2 × Unga held for this sale (stock now 8)."),
        ("wallet", "2 wallet tokens held for the sale fee (balance 8)."),
        ("sent", "Sent to M-Pesa: KES 460 to be paid to 1234567."),
        ("prompt", "M-Pesa accepted it and showed the prompt on the customer's phone (“Success. Request accepted for processing”)."),
        ("callback", "M-Pesa's result arrived (“The service request is processed successfully.”): applied."),
        ("succeeded", "Paid: M-Pesa receipt TLN1RT61SV."),
        ("callback", "M-Pesa's result arrived (“The service request is processed successfully.”): "
                     "a repeat of one already applied; nothing changed."),
    ]
    times = [step["at"] for step in response.json()["steps"]]
    assert times == sorted(times)
    assert "ws_CO_TIMELINE0001" not in response.content.decode() and push.callback_token not in response.content.decode()


@pytest.mark.django_db
def test_a_cancelled_sale_says_why_and_where_the_stock_went(till_owner, daraja):
    milk = product_create(business=till_owner.business, name="Milk", sku="MILK", price=65, stock=3)
    accept_push(daraja)
    sale = client_for(till_owner).post("/api/sales/payment", {"phone": "0711000001", "items": [{"product_id": str(milk.public_id), "quantity": 3}]},
                                       format="json").json()
    push = StkPush.objects.get()
    with run_worker():
        post_callback(Client(), push, failure_callback(push))
    kinds = steps_of(client_for(till_owner).get(f"/api/sales/{sale['id']}/timeline"))
    assert [kind for kind, _ in kinds] == ["created", "stock", "sent", "prompt", "callback", "cancelled", "stock"]
    assert kinds[4][1] == "M-Pesa's result arrived (“Request cancelled by user”): applied."
    assert kinds[5][1] == "Cancelled by the customer: Request cancelled by user"
    assert kinds[6][1] == "3 × Milk put back in stock (the sale was not paid) (stock now 3)."


@pytest.mark.django_db
def test_a_refused_push_and_a_status_query_show(till_owner, daraja):
    daraja.add(responses.POST, f"{DARAJA}/mpesa/stkpush/v1/processrequest", status=500,
               json={"requestId": "r", "errorCode": "500.001.1001", "errorMessage": "Merchant does not exist"})
    refused = client_for(till_owner).post("/api/sales/payment", {"phone": "0708374149", "amount": 10}, format="json").json()
    assert steps_of(client_for(till_owner).get(f"/api/sales/{refused['id']}/timeline"))[1:] == [
        ("sent", "Sent to M-Pesa: KES 10 to be paid to 1234567."),
        ("failed", "M-Pesa refused the request (code 500.001.1001): Merchant does not exist"),
    ]

    daraja.replace(responses.POST, f"{DARAJA}/mpesa/stkpush/v1/processrequest", json={
        "MerchantRequestID": "m", "CheckoutRequestID": "ws_CO_TIMELINE0002", "ResponseCode": "0",
        "ResponseDescription": "Success. Request accepted for processing", "CustomerMessage": "Success. Request accepted for processing"})
    queried = client_for(till_owner).post("/api/sales/payment", {"phone": "0722000111", "amount": 20}, format="json").json()
    StkPush.objects.filter(checkout_request_id="ws_CO_TIMELINE0002").update(created_at=timezone.now() - timedelta(seconds=300))
    daraja.add(responses.POST, f"{DARAJA}/mpesa/stkpushquery/v1/query", json={
        "ResponseCode": "0", "MerchantRequestID": "m", "CheckoutRequestID": "ws_CO_TIMELINE0002", "ResultCode": "1037",
        "ResultDesc": "DS timeout user cannot be reached"})
    with run_worker():
        stk_push_reconcile(older_than_seconds=0, expire_after_seconds=600)
    kinds = steps_of(client_for(till_owner).get(f"/api/sales/{queried['id']}/timeline"))
    assert [kind for kind, _ in kinds] == ["created", "sent", "prompt", "query", "expired"]
    assert kinds[3][1] == "We asked M-Pesa for the payment's status (STK query)."


@pytest.mark.django_db
def test_another_business_s_sale_or_purchase_timeline_is_404(till_owner, make_owner, start_topup, daraja):
    accept_push(daraja)
    sale = client_for(till_owner).post("/api/sales/payment", {"phone": "0708374149", "amount": 10}, format="json").json()
    purchase = start_topup(amount=50, phone="254722000111")
    other = make_owner()
    for url in (f"/api/sales/{sale['id']}/timeline", f"/api/wallet-payment/{purchase.public_id}/timeline"):
        response = client_for(other).get(url)
        assert response.status_code == 404 and error_of(response)["code"] == "not_found"
    assert Client().get(f"/api/sales/{sale['id']}/timeline").status_code == 401


@pytest.mark.django_db
def test_a_token_purchase_timeline_ends_with_the_wallet_credit(owner, start_topup):
    purchase = start_topup(amount=300, phone="254722000111")
    push = purchase.push
    with run_worker():
        post_callback(Client(), push, success_callback(push, receipt="TLNWALLET1"))
    response = client_for(owner).get(f"/api/wallet-payment/{purchase.public_id}/timeline/")
    assert steps_of(response) == [
        ("created", "Purchase of 300 tokens for KES 300 from 254722000111 started."),
        ("sent", "Sent to M-Pesa: KES 300 to be paid to 650880."),
        ("prompt", "M-Pesa accepted it and showed the prompt on the customer's phone (“Success. Request accepted for processing”)."),
        ("callback", "M-Pesa's result arrived (“The service request is processed successfully.”): applied."),
        ("succeeded", "Paid: M-Pesa receipt TLNWALLET1."),
        ("wallet", "300 tokens credited to the wallet (balance 300)."),
    ]


@pytest.mark.django_db
def test_a_cashier_cannot_read_a_purchase_timeline(owner, cashier, start_topup):
    purchase = start_topup(amount=50)
    assert client_for(cashier).get(f"/api/wallet-payment/{purchase.public_id}/timeline").status_code == 403


@pytest.mark.django_db
def test_a_purchase_started_through_the_api_names_who_asked(owner, daraja):
    accept_push(daraja)
    purchase = client_for(owner).post("/api/wallet-payment/initiate", {"phone": "0722000111", "amount": 40}, format="json").json()
    steps = steps_of(client_for(owner).get(f"/api/wallet-payment/{purchase['id']}/timeline"))
    assert steps[0] == ("created", f"Purchase of 40 tokens for KES 40 from 254722000111 started by {owner.user.full_name}.")


@pytest.mark.django_db
def test_the_admin_pages_show_the_same_steps(owner, till_owner, start_topup, daraja):
    accept_push(daraja)
    sale = client_for(till_owner).post("/api/sales/payment", {"phone": "0708374149", "amount": 10}, format="json").json()
    purchase = start_topup(amount=60, phone="254722000111")
    web = Client()
    web.force_login(owner.user)
    from sales.models import Sale

    sale_page = web.get(f"/admin/sales/sale/{Sale.objects.get(public_id=sale['id']).pk}/change/")
    assert sale_page.status_code == 200
    assert "Sent to M-Pesa: KES 10 to be paid to 1234567." in sale_page.content.decode()
    purchase_page = web.get(f"/admin/wallet/tokenpurchase/{purchase.pk}/change/")
    assert purchase_page.status_code == 200
    page = purchase_page.content.decode()
    assert "What happened, step by step" in page and "Sent to M-Pesa: KES 60 to be paid to 650880." in page
    assert purchase.push.callback_token not in page and purchase.push.checkout_request_id not in page
