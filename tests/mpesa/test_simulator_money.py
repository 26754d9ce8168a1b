"""The simulator's money-out and C2B APIs: B2C v3, reversal, transaction status, account balance,
C2B register/simulate with validation and confirmation, and a real SecurityCredential check."""

import base64
import hashlib
import json

import pytest
import requests
import responses
from django.core.cache import cache
from django.test import Client

from mpesa.daraja import stk_password
from mpesa.simulator import engine, money, registry

BASE = "/simulator/daraja"
TS = "20261122101500"
RESULT_URL = "https://merchant.test/hooks/result/"
TIMEOUT_URL = "https://merchant.test/hooks/timeout/"
PASSWORD = registry.SANDBOX_INITIATOR[1]
pytestmark = pytest.mark.django_db


@pytest.fixture
def posted(monkeypatch):
    """Results the simulator would POST: (url, body, times)."""
    sent = []
    monkeypatch.setattr(money, "post_result", lambda url, body, *, delay=None, times=1: sent.append((url, body, times)))
    monkeypatch.setattr(engine, "_schedule", lambda checkout, delay: None)
    return sent


@pytest.fixture
def bearer():
    app = base64.b64encode(f"{registry.SANDBOX_CONSUMER_KEY}:{registry.SANDBOX_CONSUMER_SECRET}".encode()).decode()
    return Client().get(f"{BASE}/oauth/v1/generate?grant_type=client_credentials", HTTP_AUTHORIZATION=f"Basic {app}").json()["access_token"]


def call(bearer, path, body):
    return Client().post(BASE + path, json.dumps(body), content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {bearer}")


def b2c_body(**change):
    body = {
        "OriginatorConversationID": f"oc-{change.pop('n', 1)}", "InitiatorName": "testapi",
        "SecurityCredential": money.security_credential(PASSWORD), "CommandID": "BusinessPayment", "Amount": "10",
        "PartyA": "600996", "PartyB": "254708374149", "Remarks": "Payout", "QueueTimeOutURL": TIMEOUT_URL,
        "ResultURL": RESULT_URL, "Occassion": "",
    }
    body.update(change)
    return body


def params(result):
    items = result["Result"]["ResultParameters"]["ResultParameter"]
    return {i["Key"]: i.get("Value") for i in ([items] if isinstance(items, dict) else items)}


# --- B2C ---------------------------------------------------------------------------------------


def test_b2c_accepts_then_posts_the_result(bearer, posted):
    ack = call(bearer, "/mpesa/b2c/v3/paymentrequest", b2c_body())
    assert ack.status_code == 200
    assert ack.json()["OriginatorConversationID"] == "oc-1" and ack.json()["ConversationID"].startswith("AG_")
    assert (ack.json()["ResponseCode"], ack.json()["ResponseDescription"]) == ("0", "Accept the service request successfully.")
    [(url, result, times)] = posted
    assert url == RESULT_URL and times == 1
    assert result["Result"]["ResultCode"] == 0 and result["Result"]["ConversationID"] == ack.json()["ConversationID"]
    values = params(result)
    assert values["TransactionAmount"] == 10 and values["TransactionReceipt"] == result["Result"]["TransactionID"]
    assert values["ReceiverPartyPublicName"] == "254708374149 - JOHN DOE" and values["B2CUtilityAccountAvailableFunds"] == 999_990


def test_b2c_refuses_a_reused_originator_conversation_id(bearer, posted):
    assert call(bearer, "/mpesa/b2c/v3/paymentrequest", b2c_body()).status_code == 200
    again = call(bearer, "/mpesa/b2c/v3/paymentrequest", b2c_body())
    assert again.status_code == 500
    assert (again.json()["errorCode"], again.json()["errorMessage"]) == ("500.002.1001", "Duplicate OriginatorConversationID.")


@pytest.mark.parametrize(
    "change, code",
    [
        ({"SecurityCredential": money.security_credential("wrong-password")}, 2001),
        ({"SecurityCredential": base64.b64encode(b"Safaricom999!*!").decode()}, 2001),  # not encrypted
        ({"InitiatorName": "someone"}, 2001),
        ({"PartyA": "600100"}, 2028),
    ],
)
def test_b2c_wrong_credential_or_shortcode_fails_in_the_result(bearer, posted, change, code):
    assert call(bearer, "/mpesa/b2c/v3/paymentrequest", b2c_body(**change)).status_code == 200
    [(url, result, _)] = posted
    assert url == RESULT_URL and result["Result"]["ResultCode"] == code and "ResultParameters" not in result["Result"]
    assert result["Result"]["TransactionID"].endswith("0000000")


@pytest.mark.parametrize(
    "phone, url, code, times",
    [
        ("254711000003", RESULT_URL, 1, 1),
        ("254711000004", RESULT_URL, 2001, 1),
        ("254711000016", RESULT_URL, 2040, 1),
        ("254711000002", TIMEOUT_URL, 1037, 1),
        ("254711000006", RESULT_URL, 0, 2),
        ("254711000018", RESULT_URL, "00000000", 1),
    ],
)
def test_b2c_magic_phones(bearer, posted, phone, url, code, times):
    call(bearer, "/mpesa/b2c/v3/paymentrequest", b2c_body(PartyB=phone))
    [(sent_to, result, sent_times)] = posted
    assert (sent_to, result["Result"]["ResultCode"], sent_times) == (url, code, times)


def test_b2c_magic_no_result_and_single_object_parameter(bearer, posted):
    call(bearer, "/mpesa/b2c/v3/paymentrequest", b2c_body(PartyB="254711000005"))
    assert posted == []
    call(bearer, "/mpesa/b2c/v3/paymentrequest", b2c_body(PartyB="254711000017", n=2))
    [(_, result, _)] = posted
    assert result["Result"]["ResultParameters"]["ResultParameter"] == {"Key": "TransactionAmount", "Value": 10}


def test_b2c_more_than_the_utility_balance_is_insufficient(bearer, posted):
    cache.set("sim:balance:600996", 5, 60)
    call(bearer, "/mpesa/b2c/v3/paymentrequest", b2c_body())
    assert posted[0][1]["Result"]["ResultCode"] == 1


def test_b2c_field_rules_and_its_own_invalid_token_code(bearer, posted):
    response = call(bearer, "/mpesa/b2c/v3/paymentrequest", b2c_body(CommandID="Pay"))
    assert (response.status_code, response.json()["errorMessage"]) == (400, "Bad Request - Invalid CommandID")
    response = call(bearer, "/mpesa/b2c/v3/paymentrequest", b2c_body(ResultURL="https://x.test/mpesa/result"))
    assert response.json()["errorMessage"] == "Bad Request - Invalid ResultURL"
    response = call("stale-token", "/mpesa/b2c/v3/paymentrequest", b2c_body())
    assert (response.status_code, response.json()["errorCode"]) == (401, "401.002.01")
    assert response.json()["errorMessage"] == "Error Occurred - Invalid Access Token - stale-token"


# --- Transaction status, reversal, account balance --------------------------------------------


def initiator_body(**change):
    body = {"Initiator": "testapi", "SecurityCredential": money.security_credential(PASSWORD), "ResultURL": RESULT_URL,
            "QueueTimeOutURL": TIMEOUT_URL, "Remarks": "OK", "Occasion": "OK"}
    body.update(change)
    return body


def test_transaction_status_finds_an_stk_receipt_and_not_an_unknown_one(bearer, posted):
    push = {"BusinessShortCode": "174379", "Password": stk_password("174379", registry.SANDBOX_PASSKEY, TS), "Timestamp": TS,
            "TransactionType": "CustomerPayBillOnline", "Amount": 25, "PartyA": "254708374149", "PartyB": "174379",
            "PhoneNumber": "254708374149", "CallBackURL": "https://x.test/hooks/cb/", "AccountReference": "A", "TransactionDesc": "B"}
    checkout = call(bearer, "/mpesa/stkpush/v1/processrequest", push).json()["CheckoutRequestID"]
    receipt = cache.get(f"sim:checkout:{checkout}")["receipt"]
    status = initiator_body(CommandID="TransactionStatusQuery", TransactionID=receipt, PartyA="600996", IdentifierType="4")
    assert call(bearer, "/mpesa/transactionstatus/v1/query", status).json()["ResponseCode"] == "0"
    values = params(posted[0][1])
    assert (values["ReceiptNo"], values["Amount"], values["TransactionStatus"]) == (receipt, "25", "Completed")
    call(bearer, "/mpesa/transactionstatus/v1/query", {**status, "TransactionID": "QZZ0000000"})
    assert posted[1][1]["Result"]["ResultCode"] == "R000002"
    stale = call("stale", "/mpesa/transactionstatus/v1/query", status)
    assert (stale.status_code, stale.json()["errorCode"]) == (400, "400.003.01")


def test_reversal_once_then_already_reversed_and_unknown(bearer, posted):
    call(bearer, "/mpesa/b2c/v3/paymentrequest", b2c_body())
    receipt = posted[0][1]["Result"]["TransactionID"]
    body = initiator_body(CommandID="TransactionReversal", TransactionID=receipt, Amount="10", ReceiverParty="600996",
                          RecieverIdentifierType="11")
    for _ in range(2):
        call(bearer, "/mpesa/reversal/v1/request", body)
    call(bearer, "/mpesa/reversal/v1/request", {**body, "TransactionID": "QZZ0000000"})
    call(bearer, "/mpesa/reversal/v1/request", {**body, "SecurityCredential": money.security_credential("nope")})
    codes = [r["Result"]["ResultCode"] for _, r, _ in posted[1:]]
    assert codes == [0, "R000001", "R000002", 2001]
    assert params(posted[1][1])["OriginalTransactionID"] == receipt


def test_account_balance_reports_the_utility_account_after_payouts(bearer, posted):
    call(bearer, "/mpesa/b2c/v3/paymentrequest", b2c_body(Amount=250))
    call(bearer, "/mpesa/accountbalance/v1/query", initiator_body(CommandID="AccountBalance", PartyA="600996", IdentifierType="4"))
    result = posted[1][1]["Result"]
    assert (result["ResultType"], result["ResultCode"]) == ("0", "0")
    assert "Utility Account|KES|999750.00|999750.00|0.00|0.00" in params(posted[1][1])["AccountBalance"].split("&")


# --- C2B ---------------------------------------------------------------------------------------


def register(bearer, **change):
    body = {"ShortCode": "600966", "ResponseType": "Completed", "ConfirmationURL": "https://merchant.test/hooks/confirm/",
            "ValidationURL": "https://merchant.test/hooks/validate/"}
    body.update(change)
    return call(bearer, "/mpesa/c2b/v2/registerurl", body)


def test_c2b_register_answers_like_the_sandbox_and_checks_its_fields(bearer):
    answer = register(bearer)
    assert answer.status_code == 200
    assert set(answer.json()) == {"OriginatorCoversationID", "ResponseCode", "ResponseDescription"}
    assert (answer.json()["ResponseCode"], answer.json()["ResponseDescription"]) == ("0", "success")
    assert register(bearer, ShortCode="600100").json()["errorMessage"] == "Bad Request - Invalid ShortCode"
    assert register(bearer, ResponseType="completed").json()["errorMessage"] == "Bad Request - Invalid ResponseType"
    assert register(bearer, ConfirmationURL="https://merchant.test/mpesa/confirm").json()["errorMessage"] == "Bad Request - Invalid ConfirmationURL"


PAYMENT = {"TransID": "QAB1CD2EF3", "TransTime": "20261122101500", "BusinessShortCode": "600966", "MSISDN": "2547 ***** 149"}


@responses.activate
@pytest.mark.parametrize(
    "validation, response_type, outcome",
    [
        ({"json": {"ResultCode": "0", "ResultDesc": "Accepted"}}, "Cancelled", "confirmed"),
        ({"json": {"ResultCode": "C2B00012", "ResultDesc": "Rejected"}}, "Completed", "rejected"),
        ({"body": requests.ConnectionError()}, "Completed", "confirmed"),
        ({"body": requests.ConnectionError()}, "Cancelled", "rejected"),
    ],
)
def test_c2b_validation_decides_the_confirmation(validation, response_type, outcome):
    responses.add(responses.POST, "https://merchant.test/hooks/validate/", **validation)
    responses.add(responses.POST, "https://merchant.test/hooks/confirm/", json={"ResultCode": 0, "ResultDesc": "Success"})
    registered = {"confirmation": "https://merchant.test/hooks/confirm/", "validation": "https://merchant.test/hooks/validate/",
                  "response_type": response_type, "version": "v2"}
    assert money._c2b_deliver(registered, dict(PAYMENT), 5, "254708374149") == outcome
    confirmations = [c for c in responses.calls if c.request.url.endswith("/confirm/")]
    assert len(confirmations) == (1 if outcome == "confirmed" else 0)


def test_c2b_simulate_builds_the_confirmation_payload(bearer, monkeypatch):
    delivered = []
    monkeypatch.setattr(money, "_c2b_deliver", lambda registered, payment, amount, msisdn, mode: delivered.append((payment, mode)))
    monkeypatch.setattr(money.threading, "Timer", lambda delay, fn, args: type("T", (), {"daemon": True, "start": lambda self: fn(*args)})())
    register(bearer)
    body = {"ShortCode": "600966", "CommandID": "CustomerPayBillOnline", "Amount": 5, "Msisdn": "254708374149", "BillRefNumber": "INV7"}
    answer = call(bearer, "/mpesa/c2b/v2/simulate", body)
    assert answer.json()["ResponseDescription"] == "Accept the service request successfully."
    [(payment, mode)] = delivered
    assert mode == "normal"
    assert (payment["TransactionType"], payment["TransAmount"], payment["BillRefNumber"], payment["MSISDN"]) == (
        "Pay Bill", "5.00", "INV7", "2547 ***** 149")
    call(bearer, "/mpesa/c2b/v1/registerurl", {"ShortCode": "600966", "ResponseType": "Completed",
                                               "ConfirmationURL": "https://merchant.test/hooks/confirm/"})
    call(bearer, "/mpesa/c2b/v1/simulate", body)
    assert delivered[1][0]["MSISDN"] == hashlib.sha256(b"254708374149").hexdigest()


@pytest.mark.parametrize("amount, mode", [(4003, "rejected"), (4006, "duplicate"), (4005, "normal")])
def test_c2b_simulate_picks_the_magic_mode_by_amount(bearer, monkeypatch, amount, mode):
    delivered = []
    monkeypatch.setattr(money, "_c2b_deliver", lambda registered, payment, amount, msisdn, mode: delivered.append((amount, mode)))
    monkeypatch.setattr(money.threading, "Timer", lambda delay, fn, args: type("T", (), {"daemon": True, "start": lambda self: fn(*args)})())
    register(bearer)
    body = {"ShortCode": "600966", "CommandID": "CustomerPayBillOnline", "Amount": amount, "Msisdn": "254708374149", "BillRefNumber": "INV7"}
    assert call(bearer, "/mpesa/c2b/v2/simulate", body).json()["ResponseCode"] == "0"
    assert delivered == [(amount, mode)]


@responses.activate
@pytest.mark.parametrize("validation_url", ["https://merchant.test/hooks/validate/", ""])
def test_c2b_magic_rejection_posts_the_validation_and_no_confirmation(validation_url):
    responses.add(responses.POST, "https://merchant.test/hooks/validate/", json={"ResultCode": "0", "ResultDesc": "Accepted"})
    responses.add(responses.POST, "https://merchant.test/hooks/confirm/", json={"ResultCode": 0, "ResultDesc": "Success"})
    registered = {"confirmation": "https://merchant.test/hooks/confirm/", "validation": validation_url,
                  "response_type": "Completed", "version": "v2"}
    assert money._c2b_deliver(registered, dict(PAYMENT), 4003, "254708374149", "rejected") == "rejected"
    assert [c.request.url for c in responses.calls] == ([validation_url] if validation_url else [])
    assert money.transaction(PAYMENT["TransID"]) is None


@responses.activate
def test_c2b_magic_duplicate_posts_the_same_confirmation_twice():
    responses.add(responses.POST, "https://merchant.test/hooks/validate/", json={"ResultCode": "0", "ResultDesc": "Accepted"})
    responses.add(responses.POST, "https://merchant.test/hooks/confirm/", json={"ResultCode": 0, "ResultDesc": "Success"})
    registered = {"confirmation": "https://merchant.test/hooks/confirm/", "validation": "https://merchant.test/hooks/validate/",
                  "response_type": "Completed", "version": "v2"}
    payment = {**PAYMENT, "TransAmount": "4006.00"}
    assert money._c2b_deliver(registered, payment, 4006, "254708374149", "duplicate") == "confirmed twice"
    confirmations = [json.loads(c.request.body) for c in responses.calls if c.request.url.endswith("/confirm/")]
    assert confirmations == [payment, payment]
    assert money.transaction(PAYMENT["TransID"])["amount"] == 4006
