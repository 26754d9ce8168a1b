"""The simulator answers like Daraja: its envelopes, its types, its field rules."""

import base64
import json

import pytest
from django.core.cache import cache
from django.test import Client

from mpesa.daraja import stk_password
from mpesa.simulator import engine, registry

BASE = "/simulator/daraja"
TS = "20261122101500"


@pytest.fixture(autouse=True)
def _no_callback_threads(monkeypatch):
    # Callback delivery over HTTP is proven end to end in tests/e2e; here it would only fire
    # timers at an address nobody listens on.
    monkeypatch.setattr(engine, "_schedule", lambda checkout, delay: None)


pytestmark = pytest.mark.django_db

SANDBOX_APP = f"{registry.SANDBOX_CONSUMER_KEY}:{registry.SANDBOX_CONSUMER_SECRET}"


def oauth(app=SANDBOX_APP):
    return Client().get(f"{BASE}/oauth/v1/generate?grant_type=client_credentials",
                        HTTP_AUTHORIZATION="Basic " + base64.b64encode(app.encode()).decode())


@pytest.fixture
def bearer():
    response = oauth()
    assert response.status_code == 200
    body = response.json()
    assert isinstance(body["expires_in"], str) and body["expires_in"] == "3599"
    return body["access_token"]


def push_body(**change):
    body = {
        "BusinessShortCode": "174379", "Password": stk_password("174379", engine.SANDBOX_PASSKEY, TS), "Timestamp": TS,
        "TransactionType": "CustomerPayBillOnline", "Amount": 10, "PartyA": "254708374149", "PartyB": "174379",
        "PhoneNumber": "254708374149", "CallBackURL": "http://127.0.0.1:9/hooks/daraja/tok/",
        "AccountReference": "INV1", "TransactionDesc": "Order 1",
    }
    body.update(change)
    return body


def push(bearer, body, content_type="application/json"):
    return Client().post(f"{BASE}/mpesa/stkpush/v1/processrequest", json.dumps(body), content_type=content_type,
                         HTTP_AUTHORIZATION=f"Bearer {bearer}")


def test_oauth_rejects_wrong_grant_and_auth_type():
    assert Client().get(f"{BASE}/oauth/v1/generate?grant_type=password").json()["errorCode"] == "400.008.02"
    assert Client().get(f"{BASE}/oauth/v1/generate?grant_type=client_credentials", HTTP_AUTHORIZATION="Bearer x").json()["errorCode"] == "400.008.01"


def test_a_new_token_invalidates_the_previous_one(bearer):
    oauth()
    response = push(bearer, push_body())
    assert response.status_code == 404 and response.json()["errorCode"] == "404.001.03"


def test_accepts_a_valid_push_with_daraja_types(bearer):
    response = push(bearer, push_body())
    assert response.status_code == 200
    body = response.json()
    assert body["ResponseCode"] == "0" and body["CheckoutRequestID"].startswith("ws_CO_")
    assert set(body) == {"MerchantRequestID", "CheckoutRequestID", "ResponseCode", "ResponseDescription", "CustomerMessage"}


@pytest.mark.parametrize(
    "change, code, message",
    [
        ({"Amount": 0}, "400.002.02", "Bad Request - Invalid Amount"),
        ({"Amount": "10.5"}, "400.002.02", "Bad Request - Invalid Amount"),
        ({"Amount": 250_001}, "400.002.02", "Bad Request - Invalid Amount"),
        ({"PhoneNumber": "0708374149"}, "400.002.02", "Bad Request - Invalid PhoneNumber"),
        ({"Timestamp": "2026-11-22"}, "400.002.02", "Bad Request - Invalid Timestamp"),
        ({"CallBackURL": "https://x.test/mpesa/cb"}, "400.002.02", "Bad Request - Invalid CallBackURL"),
        ({"AccountReference": "THIRTEENCHARS"}, "400.002.02", "Bad Request - Invalid AccountReference"),
        ({"TransactionType": "Pay"}, "400.002.02", "Bad Request - Invalid TransactionType"),
        ({"Password": stk_password("174379", "wrong-passkey", TS)}, "500.001.1001", "Wrong credentials"),
        ({"PhoneNumber": "254711000008", "PartyA": "254711000008"}, "500.001.1001",
         "Unable to lock subscriber, a transaction is already in process for the current subscriber"),
    ],
)
def test_field_rules_and_error_envelopes(bearer, change, code, message):
    response = push(bearer, push_body(**change))
    body = response.json()
    assert (body["errorCode"], body["errorMessage"]) == (code, message)
    assert set(body) == {"requestId", "errorCode", "errorMessage"}
    assert response.status_code == int(code[:3])


def test_missing_json_content_type_gives_the_misleading_shortcode_error(bearer):
    response = push(bearer, push_body(), content_type="text/plain")
    assert response.json()["errorMessage"] == "Bad Request - Invalid BusinessShortCode"


def test_query_is_being_processed_until_decided_then_a_string_result(bearer, settings):
    settings.SIMULATOR_CALLBACK_DELAY = 60
    checkout = push(bearer, push_body(PhoneNumber="254711000005", PartyA="254711000005")).json()["CheckoutRequestID"]
    query = {"BusinessShortCode": "174379", "Password": stk_password("174379", engine.SANDBOX_PASSKEY, TS), "Timestamp": TS, "CheckoutRequestID": checkout}
    pending = Client().post(f"{BASE}/mpesa/stkpushquery/v1/query", json.dumps(query), content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {bearer}")
    assert pending.status_code == 500
    assert pending.json() == {"requestId": checkout, "errorCode": "500.001.1001", "errorMessage": "The transaction is being processed"}
    state = cache.get(f"sim:checkout:{checkout}")
    cache.set(f"sim:checkout:{checkout}", {**state, "decide_at": 0}, 60)
    done = Client().post(f"{BASE}/mpesa/stkpushquery/v1/query", json.dumps(query), content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {bearer}")
    assert done.status_code == 200 and done.json()["ResultCode"] == "0" and isinstance(done.json()["ResultCode"], str)


def test_callback_body_has_daraja_types():
    checkout = engine.Checkout("ws_CO_1", "m-1", "174379", 10, "254708374149", "https://x.test/cb/", "0", "ok", "normal", 0, "TABC123456",
                               paid_at="20261122101517")
    raw = engine.callback_body(checkout)
    assert '"Value": 10.00' in raw and '{"Name": "Balance"}' in raw
    items = {i["Name"]: i.get("Value") for i in json.loads(raw)["Body"]["stkCallback"]["CallbackMetadata"]["Item"]}
    assert isinstance(items["PhoneNumber"], int) and isinstance(items["TransactionDate"], int)
    failed = engine.Checkout("ws_CO_2", "m-2", "174379", 10, "254711000009", "https://x.test/cb/", "SFC_IC0003", "The operator does not exist", "normal", 0, "")
    assert json.loads(engine.callback_body(failed))["Body"]["stkCallback"]["ResultCode"] == "SFC_IC0003"


@pytest.mark.parametrize(
    "change, code",
    [
        ({"PartyB": "600100"}, "SFC_IC0003"),
        ({"TransactionType": "CustomerBuyGoodsOnline", "PartyB": "1234567"}, "2028"),
    ],
)
def test_till_and_paybill_mix_ups_fail_in_the_callback(bearer, change, code):
    checkout = push(bearer, push_body(**change)).json()["CheckoutRequestID"]
    assert cache.get(f"sim:checkout:{checkout}")["result_code"] == code
