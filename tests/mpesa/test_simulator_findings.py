"""Issue #14: where the simulator was kinder than Daraja. Each test here failed before the fix."""

import base64
import json
import re
from datetime import datetime

import pytest
from django.core.cache import cache
from django.test import Client

from mpesa.daraja import NAIROBI, stk_password
from mpesa.simulator import engine, registry
from tests.conftest import setup_paybill, setup_till

BASE = "/simulator/daraja"
TS = "20261122101500"
LOCKED = "Unable to lock subscriber, a transaction is already in process for the current subscriber"
pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _no_callback_threads(monkeypatch):
    monkeypatch.setattr(engine, "_schedule", lambda checkout, delay: None)


def oauth(key, secret, client=None):
    return (client or Client()).get(f"{BASE}/oauth/v1/generate?grant_type=client_credentials",
                                    HTTP_AUTHORIZATION="Basic " + base64.b64encode(f"{key}:{secret}".encode()).decode())


@pytest.fixture
def bearer():
    return oauth(registry.SANDBOX_CONSUMER_KEY, registry.SANDBOX_CONSUMER_SECRET).json()["access_token"]


def push_body(shortcode="174379", passkey=registry.SANDBOX_PASSKEY, phone="254708374149", **change):
    body = {
        "BusinessShortCode": shortcode, "Password": stk_password(shortcode, passkey, TS), "Timestamp": TS,
        "TransactionType": "CustomerPayBillOnline", "Amount": 10, "PartyA": phone, "PartyB": shortcode,
        "PhoneNumber": phone, "CallBackURL": "http://127.0.0.1:9/hooks/daraja/tok/",
        "AccountReference": "INV1", "TransactionDesc": "Order 1",
    }
    body.update(change)
    return body


def push(bearer, body):
    return Client().post(f"{BASE}/mpesa/stkpush/v1/processrequest", json.dumps(body), content_type="application/json",
                         HTTP_AUTHORIZATION=f"Bearer {bearer}")


def query(bearer, checkout_id, shortcode="174379", passkey=registry.SANDBOX_PASSKEY):
    body = {"BusinessShortCode": shortcode, "Password": stk_password(shortcode, passkey, TS), "Timestamp": TS,
            "CheckoutRequestID": checkout_id}
    return Client().post(f"{BASE}/mpesa/stkpushquery/v1/query", json.dumps(body), content_type="application/json",
                         HTTP_AUTHORIZATION=f"Bearer {bearer}")


def error(response):
    return response.status_code, response.json()["errorCode"], response.json()["errorMessage"]


# --- Credentials: the simulator knows its apps ------------------------------------------------


def test_an_unknown_app_is_refused_with_an_empty_400():
    response = oauth("any-key", "any-secret")
    assert response.status_code == 400
    assert response.content == b""
    assert oauth(registry.SANDBOX_CONSUMER_KEY, "wrong-secret").content == b""


def test_the_platform_app_and_the_sandbox_app_get_tokens(settings):
    settings.MPESA_CONSUMER_KEY, settings.MPESA_CONSUMER_SECRET = "platform-key", "platform-secret"
    assert oauth("platform-key", "platform-secret").status_code == 200
    assert oauth("platform-key", "other-secret").status_code == 400
    assert oauth(registry.SANDBOX_CONSUMER_KEY, registry.SANDBOX_CONSUMER_SECRET).status_code == 200


def test_a_business_with_its_own_app_gets_tokens_with_it(owner):
    assert oauth("shop-own-key", "shop-own-secret").status_code == 400
    setup_till(owner.business, consumer_key="shop-own-key", consumer_secret="shop-own-secret")
    response = oauth("shop-own-key", "shop-own-secret")
    assert response.status_code == 200 and response.json()["expires_in"] == "3599"
    assert oauth("shop-own-key", "shop-other-secret").status_code == 400


# --- Credentials: the simulator knows its shortcodes ------------------------------------------


@pytest.mark.parametrize("shortcode", ["600000", "600100", "7654321"])
def test_an_unknown_shortcode_is_merchant_does_not_exist(bearer, shortcode):
    response = push(bearer, push_body(shortcode=shortcode, passkey="anykey"))
    assert error(response) == (500, "500.001.1001", "Merchant does not exist")
    assert set(response.json()) == {"requestId", "errorCode", "errorMessage"}


def test_a_configured_till_needs_its_own_passkey(bearer, owner):
    setup_till(owner.business, passkey="e2e-passkey")
    till = dict(shortcode="7654321", TransactionType="CustomerBuyGoodsOnline", PartyB="1234567")
    assert error(push(bearer, push_body(passkey="another-passkey", **till))) == (500, "500.001.1001", "Wrong credentials")
    accepted = push(bearer, push_body(passkey="e2e-passkey", **till))
    assert accepted.status_code == 200, accepted.content
    # A till's store number is not a paybill: no 2028 for Buy Goods.
    assert cache.get(f"sim:checkout:{accepted.json()['CheckoutRequestID']}")["result_code"] == "0"


def test_a_replaced_config_stays_known_for_queries(bearer, owner, settings):
    settings.SIMULATOR_CALLBACK_DELAY = 0
    setup_paybill(owner.business, shortcode="600111", passkey="old-passkey")
    checkout = push(bearer, push_body(shortcode="600111", passkey="old-passkey")).json()["CheckoutRequestID"]
    setup_paybill(owner.business, shortcode="600222", passkey="new-passkey")
    answer = query(bearer, checkout, shortcode="600111", passkey="old-passkey")
    assert answer.status_code == 200 and answer.json()["ResultCode"] == "0"
    assert error(query(bearer, checkout, shortcode="600111", passkey="x"))[2] == "Wrong credentials"


def test_the_wallet_paybill_needs_the_wallet_passkey(bearer, settings):
    settings.MPESA_PASSKEY_WALLET = "wallet-passkey"
    settings.WALLET_PAYBILL_OVERRIDE = ""
    assert push(bearer, push_body(shortcode="650880", passkey="wallet-passkey")).status_code == 200
    wrong = push(bearer, push_body(shortcode="650880", passkey="guess", phone="254708374150"))
    assert error(wrong) == (500, "500.001.1001", "Wrong credentials")
    settings.MPESA_PASSKEY_WALLET = ""
    assert error(push(bearer, push_body(shortcode="650880", passkey="", phone="254708374151")))[2] == "Merchant does not exist"


def test_the_query_checks_credentials_too(bearer):
    checkout = push(bearer, push_body()).json()["CheckoutRequestID"]
    assert error(query(bearer, checkout, passkey="wrong")) == (500, "500.001.1001", "Wrong credentials")
    assert error(query(bearer, checkout, shortcode="600000", passkey="x")) == (500, "500.001.1001", "Merchant does not exist")


# --- Subscriber lock --------------------------------------------------------------------------


def test_a_second_push_to_a_phone_with_an_open_prompt_is_refused(bearer, settings, monkeypatch):
    settings.SIMULATOR_CALLBACK_DELAY = 30
    assert push(bearer, push_body()).status_code == 200
    assert error(push(bearer, push_body())) == (500, "500.001.1001", LOCKED)
    assert error(push(bearer, push_body(Amount=99))) == (500, "500.001.1001", LOCKED)
    assert push(bearer, push_body(phone="254708374150")).status_code == 200
    # Once the customer has answered, the phone takes a new prompt.
    later = engine.time.time() + 31
    monkeypatch.setattr(engine.time, "time", lambda: later)
    assert push(bearer, push_body()).status_code == 200


def test_the_lock_is_released_when_the_answer_is_decided(bearer, settings):
    settings.SIMULATOR_CALLBACK_DELAY = 0
    assert push(bearer, push_body()).status_code == 200
    assert push(bearer, push_body()).status_code == 200


# --- Realistic mode ---------------------------------------------------------------------------


def test_fast_by_default_realistic_customer_thinks_10_to_60_seconds(bearer, settings):
    settings.SIMULATOR_CALLBACK_DELAY = 2
    settings.SIMULATOR_REALISTIC = False
    assert engine.think_time("0") == 2
    settings.SIMULATOR_REALISTIC = True
    draws = [engine.think_time("0") for _ in range(300)]
    assert all(10 <= d <= 60 for d in draws) and max(draws) - min(draws) > 20
    assert engine.think_time("1037") == engine.think_time("1019") == 60
    started = engine.time.time()
    checkout = push(bearer, push_body()).json()["CheckoutRequestID"]
    state = cache.get(f"sim:checkout:{checkout}")
    assert 10 <= state["decide_at"] - started <= 61
    assert error(query(bearer, checkout)) == (500, "500.001.1001", "The transaction is being processed")


def test_realistic_mode_applies_rule_17_to_the_same_amount_within_two_minutes(bearer, settings, monkeypatch):
    settings.SIMULATOR_REALISTIC = True
    now = engine.time.time()
    clock = {"now": now}
    monkeypatch.setattr(engine.time, "time", lambda: clock["now"])
    first = push(bearer, push_body()).json()["CheckoutRequestID"]
    assert cache.get(f"sim:checkout:{first}")["result_code"] == "0"
    clock["now"] = cache.get(f"sim:checkout:{first}")["decide_at"] + 30  # answered, lock released
    again = push(bearer, push_body()).json()["CheckoutRequestID"]
    assert (cache.get(f"sim:checkout:{again}")["result_code"], cache.get(f"sim:checkout:{again}")["result_desc"]) == ("17", "Rule limited.")
    clock["now"] = cache.get(f"sim:checkout:{again}")["decide_at"] + 1
    other_amount = push(bearer, push_body(Amount=11)).json()["CheckoutRequestID"]
    assert cache.get(f"sim:checkout:{other_amount}")["result_code"] == "0"
    settings.SIMULATOR_REALISTIC = False
    clock["now"] = cache.get(f"sim:checkout:{other_amount}")["decide_at"] + 1
    fast = push(bearer, push_body()).json()["CheckoutRequestID"]
    assert cache.get(f"sim:checkout:{fast}")["result_code"] == "0"


# --- Callbacks vary like Daraja's ------------------------------------------------------------


def _checkout(**change):
    values = dict(checkout_request_id="ws_CO_1", merchant_request_id="m-1", shortcode="174379", amount=10, phone="254708374149",
                  callback_url="https://x.test/cb/", result_code="0", result_desc=engine.SUCCESS_DESC, delivery="normal",
                  decide_at=0, receipt="QAB1CD2EF3", paid_at="20261122101517")
    values.update(change)
    return engine.Checkout(**values)


def _items(raw):
    return json.loads(raw)["Body"]["stkCallback"]["CallbackMetadata"]["Item"]


def test_callback_amount_balance_and_prefix_variants_are_written_exactly():
    whole = engine.callback_body(_checkout(amount_format="{}", balance_style="absent", desc_prefix="[STK_CB - ]"))
    assert '{"Name": "Amount", "Value": 10}' in whole
    assert [i["Name"] for i in _items(whole)] == ["Amount", "MpesaReceiptNumber", "TransactionDate", "PhoneNumber"]
    assert json.loads(whole)["Body"]["stkCallback"]["ResultDesc"] == "[STK_CB - ]The service request is processed successfully."
    one_decimal = engine.callback_body(_checkout(amount_format="{}.0", balance_style="value", desc_prefix="[MpesaCB - ]"))
    assert '{"Name": "Amount", "Value": 10.0}' in one_decimal and '{"Name": "Balance", "Value": 0.00}' in one_decimal
    no_value = engine.callback_body(_checkout())
    assert '{"Name": "Amount", "Value": 10.00}' in no_value and '{"Name": "Balance"}' in no_value
    failed = engine.callback_body(_checkout(result_code="1032", result_desc="Request cancelled by user", desc_prefix="[STK_CB - ]"))
    assert json.loads(failed)["Body"]["stkCallback"] == {
        "MerchantRequestID": "m-1", "CheckoutRequestID": "ws_CO_1", "ResultCode": 1032, "ResultDesc": "[STK_CB - ]Request cancelled by user"}


def test_pushes_draw_every_variant_and_receipts_not_only_t():
    styles = [engine.pick_style() for _ in range(400)]
    assert {s["amount_format"] for s in styles} == {"{}.00", "{}", "{}.0"}
    assert {s["balance_style"] for s in styles} == {"no_value", "absent", "value"}
    assert {s["desc_prefix"] for s in styles} == {"", "[STK_CB - ]", "[MpesaCB - ]"}
    receipts = [engine.new_receipt() for _ in range(400)]
    assert all(re.fullmatch(r"[A-Z][A-Z0-9]{9}", r) for r in receipts)
    assert len({r[0] for r in receipts}) > 3


def test_transaction_date_is_when_the_customer_paid_not_when_the_callback_is_sent(bearer, settings):
    settings.SIMULATOR_CALLBACK_DELAY = 30
    checkout = engine.Checkout(**cache.get(f"sim:checkout:{push(bearer, push_body()).json()['CheckoutRequestID']}"))
    paid = datetime.fromtimestamp(checkout.decide_at, NAIROBI).strftime("%Y%m%d%H%M%S")
    assert checkout.paid_at == paid
    date = {i["Name"]: i.get("Value") for i in _items(engine.callback_body(checkout))}["TransactionDate"]
    assert date == int(paid) and date > int(datetime.now(NAIROBI).strftime("%Y%m%d%H%M%S"))
    assert engine.callback_body(_checkout(paid_at="20250101120015")).count("20250101120015") == 1


@pytest.mark.parametrize(
    "phone, code, desc",
    [
        ("254711000010", 1019, "Transaction has expired"),
        ("254711000011", 1036, "SMSC ACK timeout."),
        ("254711000012", 1031, "Request cancelled by user"),
        ("254711000013", 1001, LOCKED),
        ("254711000014", 1025, "An error occurred while sending a push request."),
        ("254711000015", 17, "Rule limited."),
    ],
)
def test_magic_numbers_for_the_missing_codes(bearer, phone, code, desc):
    checkout = engine.Checkout(**cache.get(f"sim:checkout:{push(bearer, push_body(phone=phone)).json()['CheckoutRequestID']}"))
    callback = json.loads(engine.callback_body(checkout))["Body"]["stkCallback"]
    assert callback["ResultCode"] == code and callback["ResultDesc"].endswith(desc) and "CallbackMetadata" not in callback


# --- Bugs -------------------------------------------------------------------------------------


@pytest.mark.parametrize("amount", [1.0, "1.0", "1.00", " 1 "])
def test_a_whole_amount_written_with_decimals_is_accepted(bearer, amount):
    response = push(bearer, push_body(Amount=amount))
    assert response.status_code == 200, response.content
    assert cache.get(f"sim:checkout:{response.json()['CheckoutRequestID']}")["amount"] == 1


@pytest.mark.parametrize("amount", [1.5, "1.5", "ten", True, None, "NaN", "Infinity"])
def test_a_fractional_or_non_number_amount_is_refused(bearer, amount):
    assert error(push(bearer, push_body(Amount=amount))) == (400, "400.002.02", "Bad Request - Invalid Amount")


@pytest.mark.parametrize("path", ["/mpesa/nothing/v1/here", "/oauth/v2/generate", "/"])
def test_unknown_paths_answer_daraja_json_404(path):
    response = Client().get(BASE + path)
    assert response.status_code == 404 and response["Content-Type"] == "application/json"
    assert response.json()["errorCode"] == "404.001.01" and set(response.json()) == {"requestId", "errorCode", "errorMessage"}


@pytest.mark.parametrize("path", ["/mpesa/stkpush/v1/processrequest", "/mpesa/stkpushquery/v1/query"])
def test_a_get_on_a_post_path_answers_a_json_405(path):
    response = Client().get(BASE + path)
    assert error(response) == (405, "405.001", "Method Not Allowed")


def test_a_post_to_oauth_is_json_not_a_csrf_page():
    response = Client(enforce_csrf_checks=True).post(f"{BASE}/oauth/v1/generate?grant_type=client_credentials")
    assert error(response) == (405, "405.001", "Method Not Allowed")
