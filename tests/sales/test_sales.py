import base64

import pytest
import responses
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from mpesa.models import StkPush
from payment_configs.models import PaymentConfig
from sales.models import Product, Sale, SaleItem, StockMovement
from sales.services import product_create
from tests.conftest import (
    DARAJA,
    accept_push,
    client_for,
    error_of,
    failure_callback,
    post_callback,
    run_parallel,
    sent_body,
    setup_paybill,
    setup_till,
    success_callback,
)
from wallet.models import Wallet
from wallet.services import wallet_credit


def stock(product):
    return Product.objects.get(pk=product.pk).stock


@pytest.fixture
def till_owner(owner):
    setup_till(owner.business)
    return owner


@pytest.fixture
def products(till_owner):
    business = till_owner.business
    return (
        product_create(business=business, name="Unga", sku="UNGA", price=230, stock=10),
        product_create(business=business, name="Milk", sku="MILK", price=65, stock=3),
    )


def cart(*lines):
    return [{"product_id": str(p.public_id), "quantity": q} for p, q in lines]


@pytest.mark.django_db
def test_ad_hoc_parking_sale_on_a_till_rounds_half_up(till_owner, daraja):
    accept_push(daraja)
    response = client_for(till_owner).post("/api/sales/payment", {
        "phone": "0708374149", "amount": "1140.8333", "account_reference": "SLOT5", "description": "Parking", "businessId": str(till_owner.business.public_id),
    }, format="json")
    assert response.status_code == 202
    body = response.json()
    assert (body["status"], body["amount"], body["phone"], body["items"]) == ("pending", 1141, "254708374149", [])
    assert body["customer_message"] == "Sending the M-Pesa prompt to the customer's phone."
    sent = sent_body(daraja)
    assert sent["TransactionType"] == "CustomerBuyGoodsOnline"
    assert (sent["BusinessShortCode"], sent["PartyB"], sent["Amount"]) == ("7654321", "1234567", 1141)
    assert (sent["AccountReference"], sent["TransactionDesc"]) == ("SLOT5", "Parking")
    assert base64.b64decode(sent["Password"]).decode() == f"7654321till-passkey-secret{sent['Timestamp']}"
    push = Sale.objects.get().push
    assert (push.status, push.sent_at is not None) == ("pending", True)
    sent_once = client_for(till_owner).get(f"/api/sales/{body['id']}").json()
    assert (sent_once["status"], sent_once["customer_message"]) == ("pending", "Success. Request accepted for processing")
    post_callback(Client(), push, success_callback(push))
    detail = client_for(till_owner).get(f"/api/sales/{body['id']}").json()
    assert detail["status"] == "paid" and detail["mpesa_receipt"] == "NLJ7RT61SV" and detail["paid_at"]


@pytest.mark.django_db
def test_ad_hoc_sale_on_a_paybill(owner, daraja):
    setup_paybill(owner.business)
    accept_push(daraja)
    client_for(owner).post("/api/sales/payment", {"phone": "0708374149", "amount": 10}, format="json")
    sent = sent_body(daraja)
    assert (sent["TransactionType"], sent["BusinessShortCode"], sent["PartyB"], sent["AccountReference"]) == ("CustomerPayBillOnline", "174379", "174379", "ACC1")


@pytest.mark.django_db
def test_cart_sale_reserves_then_commits_stock_once(till_owner, products, daraja):
    unga, milk = products
    accept_push(daraja)
    response = client_for(till_owner).post("/api/sales/payment", {"phone": "0708374149", "items": cart((unga, 2), (milk, 3))}, format="json")
    assert response.status_code == 202
    body = response.json()
    assert body["amount"] == 2 * 230 + 3 * 65
    assert [(i["sku"], i["quantity"], i["unit_price"], i["line_total"]) for i in body["items"]] == [("UNGA", 2, 230, 460), ("MILK", 3, 65, 195)]
    assert (stock(unga), stock(milk)) == (8, 0)
    push = Sale.objects.get().push
    for _ in range(3):
        post_callback(Client(), push, success_callback(push))
    sale = Sale.objects.get()
    assert sale.status == "paid" and sale.stock_state == "committed"
    assert (stock(unga), stock(milk)) == (8, 0)
    assert StockMovement.objects.filter(sale=sale).count() == 2


@pytest.mark.django_db
def test_cancelled_sale_gives_its_stock_back_with_the_reason(till_owner, products, daraja):
    unga, milk = products
    accept_push(daraja)
    sale_id = client_for(till_owner).post("/api/sales/payment", {"phone": "0708374149", "items": cart((unga, 4))}, format="json").json()["id"]
    push = Sale.objects.get().push
    post_callback(Client(), push, failure_callback(push, 1032))
    post_callback(Client(), push, failure_callback(push, 1032))
    assert stock(unga) == 10
    detail = client_for(till_owner).get(f"/api/sales/{sale_id}").json()
    assert (detail["status"], detail["reason"]) == ("cancelled", "The customer cancelled the M-Pesa prompt.")
    assert list(StockMovement.objects.filter(product=unga).order_by("id").values_list("reason", "delta")) == [("initial", 10), ("reserve", -4), ("release", 4)]


@pytest.mark.django_db
def test_late_success_after_expiry_takes_stock_again(till_owner, products, daraja):
    unga, _ = products
    accept_push(daraja)
    client_for(till_owner).post("/api/sales/payment", {"phone": "0708374149", "items": cart((unga, 4))}, format="json")
    push = Sale.objects.get().push
    post_callback(Client(), push, failure_callback(push, 1037, "DS timeout user cannot be reached"))
    assert stock(unga) == 10
    post_callback(Client(), push, success_callback(push))
    sale = Sale.objects.get()
    assert (sale.status, sale.stock_state, sale.needs_review) == ("paid", "committed", False)
    assert stock(unga) == 6


@pytest.mark.django_db
def test_late_success_when_stock_is_gone_is_paid_and_flagged(till_owner, products, daraja):
    unga, _ = products
    accept_push(daraja)
    client_for(till_owner).post("/api/sales/payment", {"phone": "0708374149", "items": cart((unga, 4))}, format="json")
    push = Sale.objects.get().push
    post_callback(Client(), push, failure_callback(push, 1037))
    Product.objects.filter(pk=unga.pk).update(stock=1)
    post_callback(Client(), push, success_callback(push))
    sale = Sale.objects.get()
    assert (sale.status, sale.stock_state, sale.needs_review) == ("paid", "released", True)
    assert "stock was sold" in sale.review_reason
    assert stock(unga) == 1


@pytest.mark.django_db
def test_daraja_refusal_fails_the_sale_and_releases_stock(till_owner, products, daraja):
    unga, _ = products
    daraja.add(responses.POST, f"{DARAJA}/mpesa/stkpush/v1/processrequest", status=500,
               json={"requestId": "r", "errorCode": "500.001.1001", "errorMessage": "Merchant does not exist"})
    api = client_for(till_owner)
    response = api.post("/api/sales/payment", {"phone": "0708374149", "items": cart((unga, 4))}, format="json")
    # The refusal reaches the record, not the answer: the request never waits on Daraja.
    assert (response.status_code, response.json()["status"]) == (202, "pending")
    detail = api.get(f"/api/sales/{response.json()['id']}").json()
    assert (detail["status"], detail["daraja_error_code"]) == ("failed", "500.001.1001")
    assert detail["reason"] == "Safaricom does not know this shortcode (it may not be live yet)."
    sale = Sale.objects.get()
    assert (sale.status, sale.stock_state) == ("failed", "released")
    assert stock(unga) == 10


@pytest.mark.django_db
def test_subscriber_locked_fails_the_sale_with_a_plain_reason(till_owner, daraja):
    daraja.add(responses.POST, f"{DARAJA}/mpesa/stkpush/v1/processrequest", status=500, json={
        "requestId": "r", "errorCode": "500.001.1001", "errorMessage": "Unable to lock subscriber, a transaction is already in process for the current subscriber"})
    api = client_for(till_owner)
    response = api.post("/api/sales/payment", {"phone": "0708374149", "amount": 10}, format="json")
    assert response.status_code == 202
    detail = api.get(f"/api/sales/{response.json()['id']}").json()
    # customer_message says what happened once the prompt is over (issue #13): the plain reason.
    assert (detail["status"], detail["daraja_error_code"], detail["customer_message"]) == ("failed", "500.001.1001", detail["reason"])
    assert detail["reason"] == "The customer already has an M-Pesa prompt open. Try again in a minute."


@pytest.mark.django_db
def test_daraja_unreachable_leaves_the_sale_pending_and_reconciliation_releases_the_stock(till_owner, products, daraja):
    from datetime import timedelta

    import requests
    from django.core.management import call_command
    from django.utils import timezone

    unga, _ = products
    daraja.add(responses.POST, f"{DARAJA}/mpesa/stkpush/v1/processrequest", body=requests.ReadTimeout("slow"))
    response = client_for(till_owner).post("/api/sales/payment", {"phone": "0708374149", "items": cart((unga, 4))}, format="json")
    assert response.status_code == 202
    assert Sale.objects.get().status == "pending" and stock(unga) == 6
    assert (StkPush.objects.get().status, StkPush.objects.get().checkout_request_id) == ("unknown", None)
    StkPush.objects.update(created_at=timezone.now() - timedelta(seconds=1000))
    call_command("reconcile_stk_pushes", "--older-than=60", "--expire-after=600", stdout=__import__("io").StringIO())
    sale = Sale.objects.get()
    assert (sale.status, sale.stock_state) == ("expired", "released") and stock(unga) == 10


@pytest.mark.django_db
def test_insufficient_stock_names_the_product_and_reserves_nothing(till_owner, products, daraja):
    unga, milk = products
    response = client_for(till_owner).post("/api/sales/payment", {"phone": "0708374149", "items": cart((unga, 2), (milk, 4))}, format="json")
    assert response.status_code == 409
    error = error_of(response)
    assert error["code"] == "insufficient_stock" and error["product"] == "Milk" and error["available"] == 3
    assert "items.1.quantity" in error["fields"]
    assert (stock(unga), stock(milk)) == (10, 3)
    assert Sale.objects.count() == 0 and StkPush.objects.count() == 0 and len(daraja.calls) == 0


@pytest.mark.django_db
def test_duplicate_lines_are_merged(till_owner, products, daraja):
    _, milk = products
    response = client_for(till_owner).post("/api/sales/payment", {"phone": "0708374149", "items": cart((milk, 2), (milk, 2))}, format="json")
    assert response.status_code == 409 and stock(milk) == 3


@pytest.mark.django_db
def test_bad_sale_inputs_get_their_codes_and_write_nothing(till_owner, products, make_owner, daraja):
    unga, _ = products
    foreign = product_create(business=make_owner().business, name="Foreign", sku="F", price=10, stock=5)
    cases = [
        ({"phone": "0708374149", "items": [{"product_id": "8d6c5a52-1f0e-4a3b-9c2d-7e6f5a4b3c2d", "quantity": 1}]}, "unknown_product", "items.0.product_id"),
        ({"phone": "0708374149", "items": cart((foreign, 1))}, "unknown_product", "items.0.product_id"),
        ({"phone": "0708374149", "items": cart((unga, 0))}, "invalid", "items.0.quantity"),
        ({"phone": "0708374149", "items": cart((unga, -1))}, "invalid", "items.0.quantity"),
        ({"phone": "0708374149", "items": []}, "invalid", "items"),
        ({"phone": "0708374149", "amount": 0}, "amount_out_of_range", "amount"),
        ({"phone": "0708374149", "amount": -5}, "amount_out_of_range", "amount"),
        ({"phone": "0708374149", "amount": 250_001}, "amount_out_of_range", "amount"),
        ({"phone": "0708374149", "amount": "0.4"}, "amount_out_of_range", "amount"),
        ({"phone": "0708374149", "amount": "abc"}, "invalid", "amount"),
        ({"phone": "12345", "amount": 10}, "invalid_phone", "phone"),
        ({"phone": "0708374149", "amount": 10, "account_reference": "R" * 41}, "invalid", "account_reference"),
        ({"phone": "0708374149", "amount": 10, "account_reference": " - "}, "invalid", "account_reference"),
        ({"phone": "0708374149", "amount": 10, "account_reference": "SLOT#5"}, "invalid", "account_reference"),
        ({"phone": "0708374149", "amount": 10, "description": "d" * 101}, "invalid", "description"),
        ({"phone": "0708374149"}, "invalid", "amount"),
        ({"phone": "0708374149", "amount": 10, "items": cart((unga, 1))}, "invalid", "amount"),
    ]
    for body, code, field in cases:
        response = client_for(till_owner).post("/api/sales/payment", body, format="json")
        assert response.status_code == 400, body
        error = error_of(response)
        assert error["code"] == code, (body, error)
        assert field in error["fields"], (body, error)
    assert Sale.objects.count() == 0 and StkPush.objects.count() == 0 and stock(unga) == 10 and len(daraja.calls) == 0


@pytest.mark.django_db
def test_cart_total_over_the_limit_is_refused(till_owner, daraja):
    big = product_create(business=till_owner.business, name="Car", sku="CAR", price=200_000, stock=5)
    response = client_for(till_owner).post("/api/sales/payment", {"phone": "0708374149", "items": cart((big, 2))}, format="json")
    assert response.status_code == 400 and error_of(response)["code"] == "amount_out_of_range"
    assert stock(big) == 5


@pytest.mark.django_db
def test_another_business_id_in_the_body_is_404(till_owner, make_owner, daraja):
    other = make_owner()
    response = client_for(till_owner).post("/api/sales/payment", {"phone": "0708374149", "amount": 10, "businessId": str(other.business.public_id)}, format="json")
    assert response.status_code == 404 and Sale.objects.count() == 0


@pytest.mark.django_db
def test_no_config_and_unverified_config_are_409s(owner, daraja, settings):
    response = client_for(owner).post("/api/sales/payment", {"phone": "0708374149", "amount": 10}, format="json")
    assert response.status_code == 409
    error = error_of(response)
    assert error["code"] == "payment_config_missing" and error["setup_url"] == "/api/payment-config/setup"
    setup_till(owner.business)
    settings.SALES_REQUIRE_VERIFIED_CONFIG = True
    unverified = client_for(owner).post("/api/sales/payment", {"phone": "0708374149", "amount": 10}, format="json")
    assert unverified.status_code == 409 and error_of(unverified)["code"] == "payment_config_unverified"
    PaymentConfig.objects.update(verified=True)
    accept_push(daraja)
    assert client_for(owner).post("/api/sales/payment", {"phone": "0708374149", "amount": 10}, format="json").status_code == 202


@pytest.mark.django_db
def test_one_live_prompt_per_phone(till_owner, daraja):
    accept_push(daraja)
    api = client_for(till_owner)
    assert api.post("/api/sales/payment", {"phone": "0708374149", "amount": 10}, format="json").status_code == 202
    second = api.post("/api/sales/payment", {"phone": "+254 708 374 149", "amount": 20}, format="json")
    assert second.status_code == 409 and error_of(second)["code"] == "prompt_in_progress"
    assert Sale.objects.count() == 1


@pytest.mark.django_db
def test_idempotency_key_on_sales(till_owner, daraja):
    accept_push(daraja)
    api = client_for(till_owner)
    body = {"phone": "0708374149", "amount": 10}
    first = api.post("/api/sales/payment", body, format="json", HTTP_IDEMPOTENCY_KEY="sale-1")
    second = api.post("/api/sales/payment", body, format="json", HTTP_IDEMPOTENCY_KEY="sale-1")
    assert first.json() == second.json() and Sale.objects.count() == 1


@pytest.mark.django_db
def test_token_fee_is_held_captured_on_paid_and_released_on_failure(till_owner, daraja, settings):
    settings.SALES_TOKEN_FEE = 2
    api = client_for(till_owner)
    empty = api.post("/api/sales/payment", {"phone": "0708374149", "amount": 10}, format="json")
    assert empty.status_code == 402 and error_of(empty)["code"] == "insufficient_tokens"
    assert Sale.objects.count() == 0
    wallet_credit(business=till_owner.business, tokens=5, cause="adjustment", reference="seed")
    accept_push(daraja)
    api.post("/api/sales/payment", {"phone": "0708374149", "amount": 10}, format="json")
    assert Wallet.objects.get().balance == 3
    paid = Sale.objects.get().push
    post_callback(Client(), paid, success_callback(paid))
    accept_push(daraja)
    api.post("/api/sales/payment", {"phone": "0712345678", "amount": 10}, format="json")
    failed = Sale.objects.order_by("-id").first().push
    post_callback(Client(), failed, failure_callback(failed))
    assert Wallet.objects.get().balance == 3


@pytest.mark.django_db
def test_sales_list_filters_and_cross_tenant(till_owner, cashier, make_owner, daraja):
    api = client_for(till_owner)
    for phone in ("0708374149", "0712345678"):
        accept_push(daraja)
        api.post("/api/sales/payment", {"phone": phone, "amount": 10}, format="json")
    first = Sale.objects.order_by("id").first().push
    post_callback(Client(), first, success_callback(first))
    assert len(client_for(cashier).get("/api/sales").json()["results"]) == 2
    assert [s["status"] for s in api.get("/api/sales?status=paid").json()["results"]] == ["paid"]
    assert len(api.get("/api/sales?phone=0712345678").json()["results"]) == 1
    assert api.get("/api/sales?date_from=2000-01-01&date_to=2000-01-02").json()["results"] == []
    assert api.get("/api/sales?status=bogus").status_code == 400
    stranger = client_for(make_owner())
    assert stranger.get("/api/sales").json()["results"] == []
    assert stranger.get(f"/api/sales/{Sale.objects.first().public_id}").status_code == 404


@pytest.mark.django_db
def test_listing_fifty_sales_costs_the_same_queries_as_five(till_owner, products):
    from mpesa.services import PushResult, stk_push_apply_result
    from sales.services import sale_create

    unga, milk = products
    Product.objects.update(stock=1000)

    def make(n):
        for i in range(n):
            sale = sale_create(business=till_owner.business, phone=f"2547{i:08d}", items=cart((unga, 1), (milk, 1)))
            stk_push_apply_result(push_id=sale.push.pk, result=PushResult("1032", "x"))

    api = client_for(till_owner)
    api.get("/api/sales")  # warm the per-user membership cache, as it is within one request
    make(5)
    with CaptureQueriesContext(connection) as five:
        assert len(api.get("/api/sales?page_size=100").json()["results"]) == 5
    make(45)
    with CaptureQueriesContext(connection) as fifty:
        assert len(api.get("/api/sales?page_size=100").json()["results"]) == 50
    assert len(fifty) == len(five) == 2  # sales (with push), items (with products); no COUNT(*)
    assert SaleItem.objects.count() == 100


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_ten_parallel_carts_for_the_last_three_units(make_owner, daraja):
    from sales.services import sale_start

    owner = make_owner()
    setup_till(owner.business)
    product = product_create(business=owner.business, name="Last", sku="LAST", price=50, stock=3)
    for _ in range(10):
        accept_push(daraja)
    phones = iter(f"2547000{i:05d}" for i in range(100))
    results = run_parallel(10, lambda: sale_start(business=owner.business, phone=next(phones), items=[{"product_id": product.public_id, "quantity": 1}]))
    codes = sorted(getattr(r, "code", "ok") for r in results)
    assert codes == ["insufficient_stock"] * 7 + ["ok"] * 3
    assert stock(product) == 0
    assert not StockMovement.objects.filter(stock_after__lt=0).exists()
    # A cancelled one gives its unit back; a duplicate success commits once.
    sales = list(Sale.objects.order_by("id"))
    post_callback(Client(), sales[0].push, failure_callback(sales[0].push))
    assert stock(product) == 1
    run_parallel(8, lambda: post_callback(Client(), sales[1].push, success_callback(sales[1].push)))
    assert stock(product) == 1 and Sale.objects.get(pk=sales[1].pk).status == "paid"


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_parallel_starts_to_one_phone_send_one_prompt(make_owner, daraja):
    from sales.services import sale_start

    owner = make_owner()
    setup_till(owner.business)
    for _ in range(10):
        accept_push(daraja)
    results = run_parallel(10, lambda: sale_start(business=owner.business, phone="254712121212", amount=10))
    codes = sorted(getattr(r, "code", "ok") for r in results)
    assert codes == ["ok"] + ["prompt_in_progress"] * 9
    assert StkPush.objects.filter(phone="254712121212").count() == 1


@pytest.mark.django_db
def test_a_query_uses_the_config_the_push_was_sent_with_even_after_replacement(owner, daraja):
    from datetime import timedelta
    from io import StringIO

    from django.core.management import call_command
    from django.utils import timezone

    setup_till(owner.business, passkey="OLD-PASSKEY", consumer_key="old-key", consumer_secret="old-secret")
    accept_push(daraja)
    client_for(owner).post("/api/sales/payment", {"phone": "0708374149", "amount": 10}, format="json")
    setup_paybill(owner.business, passkey="NEW-PASSKEY", consumer_key="new-key", consumer_secret="new-secret")
    StkPush.objects.update(created_at=timezone.now() - timedelta(seconds=120))
    daraja.add(responses.POST, f"{DARAJA}/mpesa/stkpushquery/v1/query", json={"ResponseCode": "0", "ResultCode": "0", "ResultDesc": "ok", "MerchantRequestID": "m", "CheckoutRequestID": "c"})
    call_command("reconcile_stk_pushes", "--older-than=60", "--expire-after=600", stdout=StringIO())
    query = [c for c in daraja.calls if c.request.url.endswith("/query")][0]
    sent = __import__("json").loads(query.request.body)
    assert base64.b64decode(sent["Password"]).decode() == f"7654321OLD-PASSKEY{sent['Timestamp']}"
    oauth = [c.request.headers["Authorization"] for c in daraja.calls if "/oauth/" in c.request.url]
    assert set(oauth) == {"Basic " + base64.b64encode(b"old-key:old-secret").decode()}
    assert Sale.objects.get().status == "paid"


@pytest.mark.django_db
def test_late_payment_takes_the_released_token_fee_again(till_owner, daraja, settings):
    settings.SALES_TOKEN_FEE = 2
    wallet_credit(business=till_owner.business, tokens=5, cause="adjustment", reference="seed")
    accept_push(daraja)
    client_for(till_owner).post("/api/sales/payment", {"phone": "0708374149", "amount": 10}, format="json")
    push = Sale.objects.get().push
    post_callback(Client(), push, failure_callback(push, 1037))
    assert Wallet.objects.get().balance == 5
    post_callback(Client(), push, success_callback(push))
    post_callback(Client(), push, success_callback(push))
    sale = Sale.objects.get()
    assert (sale.status, sale.needs_review) == ("paid", False)
    assert Wallet.objects.get().balance == 3


@pytest.mark.django_db
def test_late_payment_with_an_empty_wallet_is_paid_and_flagged(till_owner, daraja, settings):
    from wallet.services import wallet_debit

    settings.SALES_TOKEN_FEE = 2
    wallet_credit(business=till_owner.business, tokens=2, cause="adjustment", reference="seed")
    accept_push(daraja)
    client_for(till_owner).post("/api/sales/payment", {"phone": "0708374149", "amount": 10}, format="json")
    push = Sale.objects.get().push
    post_callback(Client(), push, failure_callback(push, 1037))
    wallet_debit(business=till_owner.business, tokens=2, cause="spend", reference="spent-meanwhile")
    post_callback(Client(), push, success_callback(push))
    sale = Sale.objects.get()
    assert (sale.status, sale.needs_review) == ("paid", True)
    assert "Token fee could not be charged" in sale.review_reason
    assert Wallet.objects.get().balance == 0


@pytest.mark.django_db
def test_the_parking_seeds_own_request_is_accepted_and_daraja_gets_short_texts(till_owner, daraja):
    # The seed's body (issue #13): the sale keeps what the cashier typed, Daraja gets its limits.
    accept_push(daraja)
    response = client_for(till_owner).post("/api/sales/payment", {
        "phone": "+254712345678", "amount": "1140.8333333333333", "account_reference": "Parking slot 5",
        "description": "Parking fee for slot 5",
    }, format="json")
    assert response.status_code == 202, response.content
    body = response.json()
    assert (body["amount"], body["account_reference"], body["description"]) == (1141, "Parking slot 5", "Parking fee for slot 5")
    sale = Sale.objects.get()
    assert (sale.account_reference, sale.description) == ("Parking slot 5", "Parking fee for slot 5")
    assert (sale.push.account_reference, sale.push.description) == ("Parkingslot5", "Parking fee")
    sent = sent_body(daraja)
    assert (sent["AccountReference"], sent["TransactionDesc"]) == ("Parkingslot5", "Parking fee")


@pytest.mark.parametrize(
    ("typed", "sent"),
    [
        ("Parking", "Parking"),
        ("Parking fee for slot 5", "Parking fee"),
        ("Thirteen char", "Thirteen char"),
        ("Abcdefghijklm nop", "Abcdefghijklm"),
        ("Supercalifragilistic", "Supercalifrag"),
        ("  two   spaces  ", "two spaces"),
        ("d" * 100, "d" * 13),
    ],
)
def test_daraja_description_keeps_whole_words_within_13(typed, sent):
    from sales.services import daraja_description

    assert daraja_description(typed) == sent
    assert len(daraja_description(typed)) <= 13


@pytest.mark.parametrize(
    ("typed", "sent"),
    [
        ("SLOT5", "SLOT5"),
        ("Parking slot 5", "Parkingslot5"),
        ("INV-2026-0001", "INV20260001"),
        ("Room 12 - Block B - Level 3", "Room12BlockB"),
        ("R" * 40, "R" * 12),
    ],
)
def test_daraja_account_reference_drops_separators_then_keeps_12(typed, sent):
    from sales.services import daraja_account_reference

    assert daraja_account_reference(typed) == sent


@pytest.mark.django_db
def test_a_long_description_on_a_cart_sale_is_kept_and_shortened_for_daraja(till_owner, products, daraja):
    unga, _ = products
    accept_push(daraja)
    text = "Weekly groceries for the staff canteen, second floor"
    response = client_for(till_owner).post("/api/sales/payment", {"phone": "0708374149", "items": cart((unga, 1)), "description": text}, format="json")
    assert response.status_code == 202
    assert response.json()["description"] == text
    assert sent_body(daraja)["TransactionDesc"] == "Weekly"
    assert sent_body(daraja)["AccountReference"] == "SHOP1"


@pytest.mark.django_db(transaction=True)
def test_api_starts_join_the_request_transaction_without_a_savepoint(owner, daraja, settings):
    """The API's transaction (payme/idempotency.py) ends with any refusal, so the start joins it
    without a savepoint; a refusal raised after the push and sale rows were written still leaves
    nothing but the stored answer."""
    from payme.models import IdempotencyKey
    from wallet.models import TokenPurchase

    setup_till(owner.business)
    api = client_for(owner)
    settings.SALES_TOKEN_FEE = 2  # the hold comes after the push and sale inserts
    with CaptureQueriesContext(connection) as refused_queries:
        refused = api.post("/api/sales/payment", {"phone": "0708374149", "amount": 10}, format="json", HTTP_IDEMPOTENCY_KEY="k-402")
    assert refused.status_code == 402 and error_of(refused)["code"] == "insufficient_tokens"
    assert any("INSERT INTO" in q["sql"] and "mpesa_stkpush" in q["sql"] for q in refused_queries.captured_queries)
    assert (StkPush.objects.count(), Sale.objects.count()) == (0, 0)
    assert IdempotencyKey.objects.get(key="k-402").response_status == 402
    again = api.post("/api/sales/payment", {"phone": "0708374149", "amount": 10}, format="json", HTTP_IDEMPOTENCY_KEY="k-402")
    assert (again.status_code, again["Idempotent-Replayed"]) == (402, "true")

    settings.SALES_TOKEN_FEE = 0
    for path, body in (("/api/sales/payment", {"phone": "0708374141", "amount": 10}), ("/api/wallet-payment/initiate", {"phone": "0708374142", "amount": 10})):
        accept_push(daraja)
        with CaptureQueriesContext(connection) as queries:
            assert api.post(path, body, format="json", HTTP_IDEMPOTENCY_KEY=f"k-{path}").status_code == 202
        assert not [q["sql"] for q in queries.captured_queries if "SAVEPOINT" in q["sql"].upper()]
    assert (Sale.objects.count(), TokenPurchase.objects.count()) == (1, 1)
