import base64
import json

import pytest
import requests
import responses

from mpesa.daraja import (
    Credentials,
    DarajaClient,
    DarajaInvalidRequest,
    DarajaRejected,
    DarajaUnavailable,
    StkPushRequest,
)
from tests.conftest import DARAJA, SANDBOX_PASSKEY, accept_push

CREDS = Credentials(consumer_key="key-a", consumer_secret="secret-a")
PUSH = "/mpesa/stkpush/v1/processrequest"
QUERY = "/mpesa/stkpushquery/v1/query"


def paybill_request(**change):
    values = dict(
        shortcode="174379", passkey=SANDBOX_PASSKEY, transaction_type="CustomerPayBillOnline", party_b="174379",
        amount=10, phone="254708374149", callback_url="https://pay.example.co.ke/api/daraja/callback/tok/",
        account_reference="INV1234", description="Order 1234",
    )
    values.update(change)
    return StkPushRequest(**values)


def till_request(**change):
    return paybill_request(shortcode="7654321", party_b="1234567", transaction_type="CustomerBuyGoodsOnline", passkey="tillkey", **change)


def oauth_calls(mock):
    return [c for c in mock.calls if "/oauth/" in c.request.url]


def test_paybill_payload_is_exactly_what_daraja_expects(daraja):
    accept_push(daraja)
    result = DarajaClient(credentials=CREDS).stk_push(paybill_request(), timestamp="20210628092408")
    body = json.loads(daraja.calls[-1].request.body)
    assert body == {
        "BusinessShortCode": "174379",
        # The official sample Password for this timestamp (payloads/official_stk_push_request_example.json).
        "Password": "MTc0Mzc5YmZiMjc5ZjlhYTliZGJjZjE1OGU5N2RkNzFhNDY3Y2QyZTBjODkzMDU5YjEwZjc4ZTZiNzJhZGExZWQyYzkxOTIwMjEwNjI4MDkyNDA4",
        "Timestamp": "20210628092408",
        "TransactionType": "CustomerPayBillOnline",
        "Amount": 10,
        "PartyA": "254708374149",
        "PartyB": "174379",
        "PhoneNumber": "254708374149",
        "CallBackURL": "https://pay.example.co.ke/api/daraja/callback/tok/",
        "AccountReference": "INV1234",
        "TransactionDesc": "Order 1234",
    }
    assert daraja.calls[-1].request.headers["Authorization"] == "Bearer tok-1"
    assert daraja.calls[-1].request.headers["Content-Type"] == "application/json"
    assert result.response_code == "0"
    assert result.checkout_request_id.startswith("ws_CO_TEST")


def test_till_payload_uses_store_number_for_password_and_till_as_party_b(daraja):
    accept_push(daraja)
    DarajaClient(credentials=CREDS).stk_push(till_request(), timestamp="20250101120000")
    body = json.loads(daraja.calls[-1].request.body)
    assert body["TransactionType"] == "CustomerBuyGoodsOnline"
    assert body["BusinessShortCode"] == "7654321"
    assert body["PartyB"] == "1234567"
    assert base64.b64decode(body["Password"]).decode() == "7654321tillkey20250101120000"


def test_timestamp_is_nairobi_time(daraja, monkeypatch):
    from datetime import datetime

    from mpesa import daraja as module

    accept_push(daraja)
    DarajaClient(credentials=CREDS).stk_push(paybill_request())
    body = json.loads(daraja.calls[-1].request.body)
    now = datetime.now(module.NAIROBI).strftime("%Y%m%d%H%M")
    assert body["Timestamp"][:12] in {now, str(int(now) - 1)}


def test_fifty_pushes_for_one_credential_set_make_one_oauth_call(daraja):
    client = DarajaClient(credentials=CREDS)
    for _ in range(50):
        accept_push(daraja)
        client.stk_push(paybill_request())
    assert len(oauth_calls(daraja)) == 1
    auth = oauth_calls(daraja)[0].request.headers["Authorization"]
    assert auth == "Basic " + base64.b64encode(b"key-a:secret-a").decode()


def test_numeric_expires_in_is_parsed_too(daraja):
    daraja.replace(responses.GET, f"{DARAJA}/oauth/v1/generate", json={"access_token": "tok-n", "expires_in": 3599})
    accept_push(daraja)
    DarajaClient(credentials=CREDS).stk_push(paybill_request())
    assert daraja.calls[-1].request.headers["Authorization"] == "Bearer tok-n"


def test_tokens_are_cached_per_credential_set(daraja):
    for _ in range(2):
        accept_push(daraja)
        DarajaClient(credentials=CREDS).stk_push(paybill_request())
        accept_push(daraja)
        DarajaClient(credentials=Credentials("key-b", "secret-b")).stk_push(paybill_request())
    assert len(oauth_calls(daraja)) == 2


@pytest.mark.parametrize("code", ["404.001.03", "401.002.01", "400.003.01"])
def test_invalid_token_refreshes_once_and_retries_once(daraja, code):
    daraja.add(responses.POST, f"{DARAJA}{PUSH}", status=404, json={"requestId": "r", "errorCode": code, "errorMessage": "Invalid Access Token"})
    accept_push(daraja)
    result = DarajaClient(credentials=CREDS).stk_push(paybill_request())
    assert result.response_code == "0"
    assert len(oauth_calls(daraja)) == 2
    assert len([c for c in daraja.calls if c.request.url.endswith(PUSH)]) == 2


def test_invalid_token_twice_is_a_rejection_not_a_loop(daraja):
    for _ in range(3):
        daraja.add(responses.POST, f"{DARAJA}{PUSH}", status=404, json={"requestId": "r", "errorCode": "404.001.03", "errorMessage": "Invalid Access Token"})
    with pytest.raises(DarajaRejected) as exc:
        DarajaClient(credentials=CREDS).stk_push(paybill_request())
    assert exc.value.error_code == "404.001.03"
    assert len([c for c in daraja.calls if c.request.url.endswith(PUSH)]) == 2


@pytest.mark.parametrize(
    "status, body, error_code",
    [
        (400, {"requestId": "1c5b", "errorCode": "400.002.02", "errorMessage": "Bad Request - Invalid BusinessShortCode"}, "400.002.02"),
        (500, {"requestId": "x", "errorCode": "500.001.1001", "errorMessage": "Wrong credentials"}, "500.001.1001"),
        (500, {"requestId": "x", "errorCode": "500.003.02", "errorMessage": "Spike Arrest Violation"}, "500.003.02"),
        (200, {"requestId": "x", "errorCode": "500.003.1001", "errorMessage": "Internal Server Error"}, "500.003.1001"),
        (200, {"ResponseCode": "1", "ResponseDescription": "Rejected"}, "1"),
    ],
)
def test_daraja_saying_no_is_daraja_rejected(daraja, status, body, error_code):
    daraja.add(responses.POST, f"{DARAJA}{PUSH}", status=status, json=body)
    with pytest.raises(DarajaRejected) as exc:
        DarajaClient(credentials=CREDS).stk_push(paybill_request())
    assert exc.value.error_code == error_code


@pytest.mark.parametrize(
    "kwargs",
    [
        {"status": 503, "body": "<html><body>Service Unavailable</body></html>", "content_type": "text/html"},
        {"status": 500, "body": ""},
        {"status": 200, "body": "{not json"},
        {"status": 200, "json": {"ResponseCode": "0"}},
        {"status": 302, "headers": {"Location": "https://elsewhere.test/"}},
        {"status": 429, "body": "Too Many Requests"},
        {"body": requests.ConnectionError("reset")},
        {"body": requests.ReadTimeout("slow")},
    ],
)
def test_no_usable_answer_is_daraja_unavailable(daraja, kwargs):
    daraja.add(responses.POST, f"{DARAJA}{PUSH}", **kwargs)
    with pytest.raises(DarajaUnavailable):
        DarajaClient(credentials=CREDS).stk_push(paybill_request())


def test_oauth_refusal_is_rejected_and_oauth_outage_unavailable(daraja):
    daraja.replace(responses.GET, f"{DARAJA}/oauth/v1/generate", status=400, body="")
    with pytest.raises(DarajaRejected) as exc:
        DarajaClient(credentials=CREDS).stk_push(paybill_request())
    assert exc.value.error_code == "oauth_failed"
    daraja.replace(responses.GET, f"{DARAJA}/oauth/v1/generate", status=503, body="<html></html>")
    with pytest.raises(DarajaUnavailable):
        DarajaClient(credentials=CREDS).stk_push(paybill_request())


@pytest.mark.parametrize(
    "change, field",
    [
        ({"amount": 0}, "Amount"),
        ({"amount": 250_001}, "Amount"),
        ({"amount": 10.5}, "Amount"),
        ({"phone": "0712345678"}, "PhoneNumber"),
        ({"account_reference": "THIRTEEN-CHAR"}, "AccountReference"),
        ({"description": "fourteen chars"}, "TransactionDesc"),
        ({"callback_url": "https://x.test/mpesa/callback/"}, "CallBackURL"),
        ({"callback_url": "https://x.test/hooks/ a/"}, "CallBackURL"),
        ({"party_b": "600000"}, "PartyB"),
        ({"shortcode": "1234"}, "BusinessShortCode"),
    ],
)
def test_invalid_requests_are_refused_before_anything_is_sent(daraja, change, field):
    with pytest.raises(DarajaInvalidRequest) as exc:
        DarajaClient(credentials=CREDS).stk_push(paybill_request(**change))
    assert exc.value.field == field
    assert len(daraja.calls) == 0


def test_query_being_processed_means_pending(daraja):
    daraja.add(responses.POST, f"{DARAJA}{QUERY}", status=500, json={"requestId": "ws_CO_1", "errorCode": "500.001.1001", "errorMessage": "The transaction is being processed"})
    result = DarajaClient(credentials=CREDS).stk_query(shortcode="174379", passkey=SANDBOX_PASSKEY, checkout_request_id="ws_CO_1")
    assert result.pending is True and result.result_code is None


def test_query_reads_capitalised_error_keys_too(daraja):
    daraja.add(responses.POST, f"{DARAJA}{QUERY}", status=500, json={"RequestID": "ws_CO_1", "ErrorCode": "500.001.1001", "ErrorMessage": "The transaction is being processed"})
    result = DarajaClient(credentials=CREDS).stk_query(shortcode="174379", passkey=SANDBOX_PASSKEY, checkout_request_id="ws_CO_1")
    assert result.pending is True


def test_query_result_code_is_a_string(daraja):
    daraja.add(responses.POST, f"{DARAJA}{QUERY}", json={
        "ResponseCode": "0", "ResponseDescription": "The service request has been accepted successsfully",
        "MerchantRequestID": "m", "CheckoutRequestID": "ws_CO_1", "ResultCode": "1032", "ResultDesc": "Request cancelled by user",
    })
    result = DarajaClient(credentials=CREDS).stk_query(shortcode="174379", passkey=SANDBOX_PASSKEY, checkout_request_id="ws_CO_1")
    assert result.pending is False and result.result_code == "1032"
    body = json.loads(daraja.calls[-1].request.body)
    assert set(body) == {"BusinessShortCode", "Password", "Timestamp", "CheckoutRequestID"}


def test_secrets_are_not_in_reprs():
    assert "secret-a" not in repr(CREDS)
    assert SANDBOX_PASSKEY not in repr(paybill_request())


def test_proxies_come_from_the_environment_once_per_url_and_honour_no_proxy(monkeypatch):
    from mpesa.daraja import _proxies_for

    monkeypatch.setenv("HTTPS_PROXY", "http://egress.internal:3128")
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    _proxies_for.cache_clear()
    assert _proxies_for("https://api.safaricom.co.ke")["https"] == "http://egress.internal:3128"
    monkeypatch.setenv("NO_PROXY", "api.safaricom.co.ke")
    assert _proxies_for("https://api.safaricom.co.ke")["https"] == "http://egress.internal:3128"  # read once
    _proxies_for.cache_clear()
    assert _proxies_for("https://api.safaricom.co.ke") == {}
    _proxies_for.cache_clear()
