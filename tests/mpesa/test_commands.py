"""Result-URL commands: the client calls, the SecurityCredential, claim-then-send, results by token,
and reconciliation by Transaction Status. Only Daraja is mocked (``responses``)."""

import base64
import copy
import json
from datetime import datetime

import pytest
import requests
import responses

from mpesa import commands
from mpesa.commands import (
    ApplyOutcome,
    daraja_command_apply_result,
    daraja_command_create,
    daraja_command_enqueue,
    daraja_command_reconcile,
    daraja_command_send,
    daraja_command_sweep,
    parse_result,
)
from mpesa.daraja import NAIROBI, Credentials, DarajaClient, Initiator, initiator_password_problem, security_credential
from mpesa.models import CallbackDelivery, DarajaCommand
from mpesa.simulator.money import _decrypt
from tests.conftest import DARAJA, run_worker

B2C = f"{DARAJA}/mpesa/b2c/v3/paymentrequest"
STATUS = f"{DARAJA}/mpesa/transactionstatus/v1/query"
REVERSAL = f"{DARAJA}/mpesa/reversal/v1/request"
PAYLOADS = "/work/shared/daraja/payloads"
INITIATOR = Initiator(shortcode="600996", name="testapi", password="Safaricom999!*!")
CREDS = Credentials(consumer_key="key-a", consumer_secret="secret-a")
changes = []


def _on_change(command, previous):
    changes.append((command.pk, previous, command.status))


def _initiator_for(command):
    if command.shortcode == "000000":
        raise LookupError("no config")
    return CREDS, INITIATOR


commands.register_command_purpose("test_money", on_change=_on_change, initiator_for=_initiator_for)


@pytest.fixture(autouse=True)
def _reset_changes():
    changes.clear()


def payload(name):
    with open(f"{PAYLOADS}/{name}") as f:
        return json.load(f)


def ack(mock, url=B2C, originator="x"):
    mock.add(responses.POST, url, json={
        "ConversationID": "AG_20240706_2010364430d9bbdaf872", "OriginatorConversationID": originator,
        "ResponseCode": "0", "ResponseDescription": "Accept the service request successfully.",
    })


def make_b2c(owner, amount=10, phone="254705912645", shortcode="600996"):
    return daraja_command_create(
        business=owner.business, kind=DarajaCommand.Kind.B2C, purpose="test_money", shortcode=shortcode,
        command_id="BusinessPayment", amount=amount, phone=phone, remarks="Supplier payment",
    )


def sent(mock, url=B2C, index=-1):
    return json.loads([c for c in mock.calls if c.request.url == url][index].request.body)


def success_result(command):
    body = payload("official_b2c_result_success.json")
    body["Result"]["OriginatorConversationID"] = command.originator_conversation_id
    return body


def post_result(client, command, body, timeout=False):
    suffix = commands.TIMEOUT_SUFFIX if timeout else ""
    return client.post(f"/api/daraja/callback/{command.callback_token}{suffix}/", data=json.dumps(body),
                       content_type="application/json")


# --- SecurityCredential and the client ---------------------------------------------------------


def test_security_credential_is_pkcs1v15_of_the_plain_password_with_the_simulator_certificate():
    first = security_credential("Safaricom999!*!", environment="simulator")
    second = security_credential("Safaricom999!*!", environment="simulator")
    assert first != second  # random padding
    assert _decrypt(first) == "Safaricom999!*!"
    assert _decrypt(second) == "Safaricom999!*!"


@pytest.mark.parametrize("environment,size", [("sandbox", 256), ("production", 256)])
def test_shipped_certificates_encrypt(environment, size):
    assert len(base64.b64decode(security_credential("Safaricom999!*!", environment=environment))) == size


@pytest.mark.parametrize("password", ["pass(word", "pass)word", "me@home", "pass.word", "", "pässword"])
def test_initiator_passwords_daraja_cannot_encrypt_are_refused(password):
    assert initiator_password_problem(password)


def test_sandbox_password_is_allowed():
    assert initiator_password_problem("Safaricom999!*!") is None


def test_b2c_v3_payload(daraja):
    ack(daraja, originator="PAYME-1")
    accepted = DarajaClient(credentials=CREDS).b2c_payment(
        initiator=INITIATOR, originator_conversation_id="PAYME-1", command_id="BusinessPayment", amount=10,
        phone="254705912645", remarks="Supplier", result_url="https://p.test/api/daraja/callback/t/",
        timeout_url="https://p.test/api/daraja/callback/t-qt/",
    )
    body = sent(daraja)
    assert _decrypt(body.pop("SecurityCredential")) == "Safaricom999!*!"
    assert body == {
        "OriginatorConversationID": "PAYME-1", "InitiatorName": "testapi", "CommandID": "BusinessPayment", "Amount": 10,
        "PartyA": "600996", "PartyB": "254705912645", "Remarks": "Supplier",
        "QueueTimeOutURL": "https://p.test/api/daraja/callback/t-qt/", "ResultURL": "https://p.test/api/daraja/callback/t/",
        "Occasion": "Supplier",
    }
    assert (accepted.conversation_id, accepted.originator_conversation_id, accepted.duplicate) == (
        "AG_20240706_2010364430d9bbdaf872", "PAYME-1", False)


def test_reversal_payload_keeps_dara_spelling(daraja):
    ack(daraja, REVERSAL)
    DarajaClient(credentials=CREDS).reversal(
        initiator=INITIATOR, transaction_id="NLJ7RT61SV", amount=100, remarks="Refund",
        result_url="https://p.test/api/daraja/callback/t/", timeout_url="https://p.test/api/daraja/callback/t-qt/",
    )
    body = sent(daraja, REVERSAL)
    assert body["RecieverIdentifierType"] == "11"
    assert (body["CommandID"], body["TransactionID"], body["Amount"], body["ReceiverParty"]) == (
        "TransactionReversal", "NLJ7RT61SV", 100, "600996")


# --- Result parsing ----------------------------------------------------------------------------


@pytest.mark.parametrize("code", [0, "0", "00000000", 0.0])
def test_result_code_int_string_or_zero_padded_is_success(code):
    body = payload("official_b2c_result_success.json")
    body["Result"]["ResultCode"] = code
    assert parse_result(body).is_success


def test_single_result_parameter_object_is_read_like_a_list():
    body = payload("official_b2c_result_success.json")
    body["Result"]["ResultParameters"]["ResultParameter"] = {"Key": "TransactionAmount", "Value": 10}
    assert parse_result(body).parameters == {"TransactionAmount": 10}


def test_parameters_are_read_by_key_not_position():
    body = payload("official_b2c_result_success.json")
    body["Result"]["ResultParameters"]["ResultParameter"].reverse()
    result = parse_result(body)
    assert result.parameters["TransactionReceipt"] == "SG632NMUAB"
    assert result.parameters["TransactionCompletedDateTime"] == "06.07.2024 22:48:52"


# --- Send: claim, once ------------------------------------------------------------------------


def test_send_claims_once_and_records_the_ack_without_the_credential(owner, daraja):
    command = make_b2c(owner)
    ack(daraja, originator=command.originator_conversation_id)
    sent_command = daraja_command_send(command_id=command.pk)
    assert daraja_command_send(command_id=command.pk) is None
    assert len([c for c in daraja.calls if c.request.url == B2C]) == 1
    assert sent_command.status == "accepted"
    assert sent_command.conversation_id == "AG_20240706_2010364430d9bbdaf872"
    assert "SecurityCredential" not in json.dumps(sent_command.raw_request)
    assert "Safaricom999" not in json.dumps(sent_command.raw_request)
    assert sent(daraja)["OriginatorConversationID"] == command.originator_conversation_id


def test_enqueue_sends_after_commit(owner, daraja):
    command = make_b2c(owner)
    ack(daraja, originator=command.originator_conversation_id)
    with run_worker():
        daraja_command_enqueue(command)
    command.refresh_from_db()
    assert command.status == "accepted"


@pytest.mark.parametrize("fault", [requests.exceptions.ConnectTimeout(), requests.exceptions.ReadTimeout()])
def test_no_answer_is_unknown_and_never_resent(owner, daraja, fault):
    command = make_b2c(owner)
    daraja.add(responses.POST, B2C, body=fault)
    assert daraja_command_send(command_id=command.pk).status == "unknown"
    assert daraja_command_send(command_id=command.pk) is None
    assert changes == []


def test_html_answer_is_unknown(owner, daraja):
    command = make_b2c(owner)
    daraja.add(responses.POST, B2C, body="<html>Bad gateway</html>", status=502, content_type="text/html")
    assert daraja_command_send(command_id=command.pk).status == "unknown"


def test_duplicate_originator_means_already_accepted(owner, daraja):
    command = make_b2c(owner)
    daraja.add(responses.POST, B2C, status=500, json=payload("official_b2c_error_500.002.1001_duplicate_originatorconversationid.json"))
    result = daraja_command_send(command_id=command.pk)
    assert (result.status, result.daraja_error_code) == ("accepted", "500.002.1001")
    assert changes == []


def test_daraja_refusal_fails_with_reason(owner, daraja):
    command = make_b2c(owner)
    daraja.add(responses.POST, B2C, status=400, json={"requestId": "r", "errorCode": "400.002.02", "errorMessage": "Bad Request - Invalid PartyA"})
    result = daraja_command_send(command_id=command.pk)
    assert (result.status, result.result_code, result.daraja_error_code) == ("failed", "400.002.02", "400.002.02")
    assert changes == [(command.pk, "sending", "failed")]


def test_missing_config_fails_without_calling_daraja(owner, daraja):
    command = make_b2c(owner, shortcode="000000")
    assert daraja_command_send(command_id=command.pk).status == "failed"
    assert [c for c in daraja.calls if c.request.url == B2C] == []


def test_worker_killed_between_claim_and_send_becomes_unknown_and_is_not_resent(owner, daraja, settings):
    command = make_b2c(owner)
    DarajaCommand.objects.filter(pk=command.pk).update(status="sending", sent_at=datetime(2020, 1, 1, tzinfo=NAIROBI))
    assert daraja_command_sweep() == {"reenqueued": 0, "abandoned": 1}
    command.refresh_from_db()
    assert command.status == "unknown"
    assert daraja_command_send(command_id=command.pk) is None
    assert daraja.calls == [] or all(c.request.url != B2C for c in daraja.calls)


# --- Results through the callback view ---------------------------------------------------------


@pytest.fixture
def accepted_b2c(owner, daraja):
    command = make_b2c(owner)
    ack(daraja, originator=command.originator_conversation_id)
    return daraja_command_send(command_id=command.pk)


def test_success_result_settles_the_command_once(accepted_b2c, anon):
    body = success_result(accepted_b2c)
    assert post_result(anon, accepted_b2c, body).json() == {"ResultCode": 0, "ResultDesc": "Accepted"}
    post_result(anon, accepted_b2c, body)
    accepted_b2c.refresh_from_db()
    assert accepted_b2c.status == "succeeded"
    assert (accepted_b2c.receipt, accepted_b2c.recipient_name) == ("SG632NMUAB", "NICHOLAS JOHN SONGOK")
    assert accepted_b2c.completed_at_daraja == datetime(2024, 7, 6, 22, 48, 52, tzinfo=NAIROBI)
    assert changes == [(accepted_b2c.pk, "accepted", "succeeded")]
    outcomes = list(CallbackDelivery.objects.filter(command=accepted_b2c).order_by("id").values_list("outcome", flat=True))
    assert outcomes == ["applied", "duplicate"]


def test_failure_result_2001_says_the_password_expired(accepted_b2c, anon):
    body = payload("official_b2c_result_failure_2001.json")
    body["Result"]["OriginatorConversationID"] = accepted_b2c.originator_conversation_id
    body["Result"]["ConversationID"] = accepted_b2c.conversation_id
    post_result(anon, accepted_b2c, body)
    accepted_b2c.refresh_from_db()
    assert (accepted_b2c.status, accepted_b2c.result_code, accepted_b2c.receipt) == ("failed", "2001", "")
    from mpesa.outcomes import command_reason_for

    assert "expire after 90 days" in command_reason_for("2001")


@pytest.mark.parametrize("change,reason", [
    (lambda r: r.__setitem__("OriginatorConversationID", "someone-else"), "OriginatorConversationID"),
    (lambda r: r["ResultParameters"]["ResultParameter"][0].__setitem__("Value", 11), "Amount paid out"),
    (lambda r: r["ResultParameters"]["ResultParameter"][2].__setitem__("Value", "254700000001 - X"), "receiving phone"),
])
def test_mismatching_result_goes_to_review_and_is_never_applied(accepted_b2c, anon, change, reason):
    body = success_result(accepted_b2c)
    change(body["Result"])
    post_result(anon, accepted_b2c, body)
    accepted_b2c.refresh_from_db()
    assert accepted_b2c.status == "needs_review"
    assert reason in accepted_b2c.review_reason
    assert accepted_b2c.receipt == ""
    # A later genuine result does not override the review.
    post_result(anon, accepted_b2c, success_result(accepted_b2c))
    accepted_b2c.refresh_from_db()
    assert accepted_b2c.status == "needs_review"


def test_queue_timeout_is_not_a_failure(accepted_b2c, anon):
    body = {"Result": {"ResultType": 0, "ResultCode": 1037, "ResultDesc": "The service request timed out.",
                       "OriginatorConversationID": accepted_b2c.originator_conversation_id}}
    post_result(anon, accepted_b2c, body, timeout=True)
    accepted_b2c.refresh_from_db()
    assert accepted_b2c.status == "unknown"
    assert changes == []


def test_malformed_result_is_400_and_changes_nothing(accepted_b2c, anon):
    response = post_result(anon, accepted_b2c, {"Result": "nope"})
    assert response.status_code == 400
    accepted_b2c.refresh_from_db()
    assert accepted_b2c.status == "accepted"


def test_unknown_token_is_accepted_and_ignored(anon, db):
    response = anon.post("/api/daraja/callback/deadbeef-qt/", data="{}", content_type="application/json")
    assert response.status_code == 200
    assert CallbackDelivery.objects.get().outcome == "unknown_token"


# --- Reconciliation by Transaction Status --------------------------------------------------------


def test_unknown_b2c_is_settled_by_transaction_status(owner, daraja, anon):
    command = make_b2c(owner, amount=300, phone="254708374149")
    daraja.add(responses.POST, B2C, body=requests.exceptions.ReadTimeout())
    daraja_command_send(command_id=command.pk)
    ack(daraja, STATUS, originator="status-1")
    assert daraja_command_reconcile() == {"queried": 1, "skipped": 0, "review": 0}
    assert daraja_command_reconcile() == {"queried": 0, "skipped": 1, "review": 0}  # paced
    body = sent(daraja, STATUS)
    assert body["OriginalConversationID"] == command.originator_conversation_id
    assert body["CommandID"] == "TransactionStatusQuery"
    assert len([c for c in daraja.calls if c.request.url == B2C]) == 1  # never resent

    query = DarajaCommand.objects.get(parent=command)
    result = copy.deepcopy(payload("official_transaction_status_result.json"))
    result["Result"]["ConversationID"] = query.conversation_id
    post_result(anon, query, result)
    command.refresh_from_db()
    assert (command.status, command.receipt) == ("succeeded", "MBN31H462N")
    assert changes == [(command.pk, "unknown", "succeeded")]


def test_status_saying_nothing_found_leaves_the_payout_open(owner, daraja, anon):
    command = make_b2c(owner)
    daraja.add(responses.POST, B2C, body=requests.exceptions.ReadTimeout())
    daraja_command_send(command_id=command.pk)
    ack(daraja, STATUS)
    daraja_command_reconcile()
    query = DarajaCommand.objects.get(parent=command)
    post_result(anon, query, {"Result": {"ResultType": 0, "ResultCode": "R000002", "ResultDesc": "The OriginalTransactionID is invalid."}})
    command.refresh_from_db()
    assert command.status == "unknown"


def test_apply_is_idempotent_directly(accepted_b2c):
    result = parse_result(success_result(accepted_b2c))
    assert daraja_command_apply_result(command_id=accepted_b2c.pk, result=result) == ApplyOutcome.APPLIED
    assert daraja_command_apply_result(command_id=accepted_b2c.pk, result=result) == ApplyOutcome.DUPLICATE


def test_a_payout_status_never_finds_goes_to_review_after_the_last_query(owner, daraja):
    command = make_b2c(owner)
    daraja.add(responses.POST, B2C, body=requests.exceptions.ReadTimeout())
    daraja_command_send(command_id=command.pk)
    ack(daraja, STATUS)
    for _ in range(commands.MAX_STATUS_QUERIES):
        DarajaCommand.objects.filter(pk=command.pk).update(last_queried_at=None)
        assert daraja_command_reconcile()["queried"] == 1
    DarajaCommand.objects.filter(pk=command.pk).update(last_queried_at=None)
    assert daraja_command_reconcile() == {"queried": 0, "skipped": 0, "review": 1}
    command.refresh_from_db()
    assert command.status == "needs_review"
    assert changes == [(command.pk, "unknown", "needs_review")]
    assert len([c for c in daraja.calls if c.request.url == B2C]) == 1
