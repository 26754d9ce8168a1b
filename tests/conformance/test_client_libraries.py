"""Third-party Daraja client libraries against the stand-alone simulator (issue #14).

Each library is pointed at the simulator the way a developer would point it at the sandbox: only
its base URL changes. It gets a token, pushes, queries (pending, then decided), and the callback
the simulator POSTs is parsed by the library's own callback parser. Bad credentials and the
subscriber lock are seen through the library's own error types. mpesakit also pays out (B2C v3)
with a SecurityCredential encrypted with the simulator's certificate.

- mpesakit 2.2.0: ``client.http_client.base_url`` is a public attribute; its paths are joined from
  the root (``urljoin``), which is why the simulator must serve Daraja's root paths.
- daraja-sdk-py 2.0.0: builds every URL from ``daraja.environment.SANDBOX_BASE_URL``; the test
  points that constant at the simulator (the library has no base-URL option).
"""

import json
import queue
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from mpesa.simulator import registry
from mpesa.simulator.server import BackgroundSimulator

pytestmark = pytest.mark.django_db(transaction=True)

KEY, SECRET = registry.SANDBOX_CONSUMER_KEY, registry.SANDBOX_CONSUMER_SECRET
SHORTCODE, PASSKEY = registry.SANDBOX_SHORTCODE, registry.SANDBOX_PASSKEY
LOCKED = "Unable to lock subscriber, a transaction is already in process for the current subscriber"
# How long the simulated customer takes: long enough that a query and a second push reliably land
# while the prompt is still open on a loaded 2-core CI machine (0.6 s was not).
DECIDE_SECONDS = 2.5


@pytest.fixture
def simulator(settings):
    settings.SIMULATOR_CALLBACK_DELAY = DECIDE_SECONDS
    settings.SIMULATOR_REALISTIC = False
    with BackgroundSimulator() as sim:
        yield sim


class _Receiver(BaseHTTPRequestHandler):
    def do_POST(self):  # noqa: N802 - http.server's name
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.server.received.put(json.loads(body))
        answer = b'{"ResultCode": 0, "ResultDesc": "Accepted"}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, format, *args):  # noqa: A002
        pass


@pytest.fixture
def callbacks():
    """A merchant's callback endpoint: every body the simulator POSTs lands in ``.received``."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    server.received = queue.Queue()
    server.url = f"http://127.0.0.1:{server.server_port}/hooks/daraja/conformance/"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def _next_callback(callbacks, timeout=10):
    return callbacks.received.get(timeout=timeout)


def _wait_until_decided(started, delay=DECIDE_SECONDS):
    time.sleep(max(0.0, started + delay + 0.1 - time.monotonic()))


# --- mpesakit ---------------------------------------------------------------------------------


@pytest.fixture
def mpesakit_client(simulator):
    from mpesakit import MpesaClient

    client = MpesaClient(consumer_key=KEY, consumer_secret=SECRET, environment="sandbox")
    client.http_client.base_url = simulator.url
    return client


def _mpesakit_push(client, callbacks, phone):
    return client.stk_push(
        business_short_code=int(SHORTCODE), transaction_type="CustomerPayBillOnline", amount=10, party_a=phone,
        party_b=SHORTCODE, phone_number=phone, callback_url=callbacks.url, account_reference="INV1",
        transaction_desc="Order 1", passkey=PASSKEY,
    )


def test_mpesakit_token_push_query_and_callback(mpesakit_client, callbacks):
    from mpesakit.errors import MpesaApiException

    assert len(mpesakit_client.token_manager.get_token()) == 28
    started = time.monotonic()
    ack = _mpesakit_push(mpesakit_client, callbacks, "254708374149")
    assert ack.is_successful() and ack.ResponseCode == 0 and ack.CheckoutRequestID.startswith("ws_CO_")

    with pytest.raises(MpesaApiException) as pending:
        mpesakit_client.stk_query(business_short_code=int(SHORTCODE), checkout_request_id=ack.CheckoutRequestID, passkey=PASSKEY)
    assert pending.value.error.status_code == 500
    assert pending.value.error.raw_response == {
        "requestId": ack.CheckoutRequestID, "errorCode": "500.001.1001", "errorMessage": "The transaction is being processed"}

    with pytest.raises(MpesaApiException) as locked:
        _mpesakit_push(mpesakit_client, callbacks, "254708374149")
    assert locked.value.error.raw_response["errorMessage"] == LOCKED

    parsed = mpesakit_client.process_stk_callback(_next_callback(callbacks))
    assert parsed.is_successful
    assert parsed.Body.stkCallback.CheckoutRequestID == ack.CheckoutRequestID
    assert parsed.amount == 10
    assert len(parsed.mpesa_receipt_number) == 10
    assert str(parsed.phone_number) == "254708374149"
    assert len(str(parsed.transaction_date)) == 14

    _wait_until_decided(started)
    result = mpesakit_client.stk_query(business_short_code=int(SHORTCODE), checkout_request_id=ack.CheckoutRequestID, passkey=PASSKEY)
    assert result.is_successful() and result.ResultCode == "0" and result.CheckoutRequestID == ack.CheckoutRequestID


def test_mpesakit_sees_a_cancelled_prompt(mpesakit_client, callbacks):
    ack = _mpesakit_push(mpesakit_client, callbacks, "254711000001")
    parsed = mpesakit_client.process_stk_callback(_next_callback(callbacks))
    assert parsed.Body.stkCallback.CheckoutRequestID == ack.CheckoutRequestID
    assert not parsed.is_successful and parsed.Body.stkCallback.ResultCode == 1032
    assert parsed.Body.stkCallback.ResultDesc.endswith("Request cancelled by user")


def test_mpesakit_is_refused_with_unknown_credentials(simulator, callbacks):
    from mpesakit import MpesaClient
    from mpesakit.errors import MpesaApiException

    stranger = MpesaClient(consumer_key="not-an-app", consumer_secret="nope", environment="sandbox")
    stranger.http_client.base_url = simulator.url
    with pytest.raises(MpesaApiException) as refused:
        stranger.token_manager.get_token()
    assert refused.value.error.status_code == 400

    client = MpesaClient(consumer_key=KEY, consumer_secret=SECRET, environment="sandbox")
    client.http_client.base_url = simulator.url
    with pytest.raises(MpesaApiException) as wrong:
        client.stk_push(
            business_short_code=600000, transaction_type="CustomerPayBillOnline", amount=10, party_a="254708374149",
            party_b="600000", phone_number="254708374149", callback_url=callbacks.url, account_reference="INV1",
            transaction_desc="Order 1", passkey=PASSKEY,
        )
    assert wrong.value.error.raw_response["errorMessage"] == "Merchant does not exist"


# --- daraja-sdk-py ----------------------------------------------------------------------------


@pytest.fixture
def daraja_sdk(simulator, monkeypatch):
    import daraja.environment
    from daraja import Mpesa

    monkeypatch.setattr(daraja.environment, "SANDBOX_BASE_URL", simulator.url)
    return Mpesa({"consumer_key": KEY, "consumer_secret": SECRET, "environment": "sandbox", "passkey": PASSKEY,
                  "max_retries": 0, "enable_idempotency": False})


def _sdk_push(sdk, callbacks, phone):
    return sdk.stk_push({
        "BusinessShortCode": int(SHORTCODE), "TransactionType": "CustomerPayBillOnline", "Amount": 10, "PartyA": int(phone),
        "PartyB": int(SHORTCODE), "PhoneNumber": int(phone), "CallBackURL": callbacks.url, "AccountReference": "INV2",
        "TransactionDesc": "Order 2",
    })


def test_daraja_sdk_token_push_query_and_callback(daraja_sdk, callbacks):
    from daraja import WebhookManager
    from daraja.exceptions import MpesaAPIError

    started = time.monotonic()
    ack = _sdk_push(daraja_sdk, callbacks, "254708374150")
    assert ack.ResponseCode == "0" and ack.CheckoutRequestID.startswith("ws_CO_")

    with pytest.raises(MpesaAPIError) as pending:
        daraja_sdk.stk_query({"BusinessShortCode": SHORTCODE, "CheckoutRequestID": ack.CheckoutRequestID})
    assert pending.value.status_code == 500
    assert json.loads(pending.value.raw_response)["errorMessage"] == "The transaction is being processed"

    with pytest.raises(MpesaAPIError) as locked:
        _sdk_push(daraja_sdk, callbacks, "254708374150")
    assert json.loads(locked.value.raw_response)["errorMessage"] == LOCKED

    parsed = WebhookManager().parse_stk_callback(_next_callback(callbacks))
    assert parsed["success"] is True and parsed["result_code"] == 0
    assert parsed["checkout_request_id"] == ack.CheckoutRequestID
    assert parsed["amount"] == 10 and len(parsed["receipt_number"]) == 10
    assert parsed["phone_number"] == "254708374150" and len(parsed["transaction_date"]) == 14

    _wait_until_decided(started)
    result = daraja_sdk.stk_query({"BusinessShortCode": SHORTCODE, "CheckoutRequestID": ack.CheckoutRequestID})
    assert (result.ResponseCode, result.ResultCode, result.CheckoutRequestID) == ("0", "0", ack.CheckoutRequestID)


def test_daraja_sdk_sees_a_wrong_pin_and_wrong_credentials(daraja_sdk, callbacks, simulator):
    from daraja import Mpesa, WebhookManager
    from daraja.exceptions import MpesaAPIError

    _sdk_push(daraja_sdk, callbacks, "254711000004")
    parsed = WebhookManager().parse_stk_callback(_next_callback(callbacks))
    assert parsed["success"] is False and parsed["result_code"] == 2001

    wrong = Mpesa({"consumer_key": KEY, "consumer_secret": SECRET, "environment": "sandbox", "passkey": "not-the-passkey",
                   "max_retries": 0, "enable_idempotency": False})
    with pytest.raises(MpesaAPIError) as refused:
        _sdk_push(wrong, callbacks, "254708374151")
    assert json.loads(refused.value.raw_response)["errorMessage"] == "Wrong credentials"


# --- mpesakit B2C -------------------------------------------------------------------------------


def _mpesakit_b2c(client, callbacks, credential, n):
    from mpesakit.b2c import B2CCommandIDType

    return client.b2c.send_payment(
        originator_conversation_id=f"conformance-{n}", initiator_name=registry.SANDBOX_INITIATOR[0],
        security_credential=credential, command_id=B2CCommandIDType.BusinessPayment, amount=10, party_a="600996",
        party_b="254708374149", remarks="Payout", queue_timeout_url=callbacks.url, result_url=callbacks.url,
    )


def test_mpesakit_b2c_with_the_simulator_certificate(mpesakit_client, callbacks):
    """mpesakit 2.2.0 gets the acknowledgement, and the result arrives in Daraja's official shape.
    Two things the simulator catches about this version, as the sandbox would:
    - its ``process_b2c_callback`` wants ``ResultParameters`` to be a list, while Daraja (and the
      official sample) nest it as ``{"ResultParameter": [...]}``: it cannot parse a real result;
    - its ``generate_security_credential`` encrypts the password *plus a timestamp*; the
      simulator, following the documented algorithm (REFERENCE.md section 6), answers 2001."""
    from mpesakit.security.get_credential import generate_security_credential
    from pydantic import ValidationError

    from mpesa.simulator.money import CERTIFICATE_PATH, security_credential

    ack = _mpesakit_b2c(mpesakit_client, callbacks, security_credential(registry.SANDBOX_INITIATOR[1]), 1)
    assert ack.OriginatorConversationID == "conformance-1" and ack.ConversationID.startswith("AG_")
    assert str(ack.ResponseCode) == "0"
    result = _next_callback(callbacks)
    assert result["Result"]["ResultCode"] == 0
    assert {p["Key"] for p in result["Result"]["ResultParameters"]["ResultParameter"]} >= {"TransactionAmount", "TransactionReceipt"}
    with pytest.raises(ValidationError):
        mpesakit_client.process_b2c_callback(result)

    their_credential = generate_security_credential(registry.SANDBOX_INITIATOR[1], cert_path=str(CERTIFICATE_PATH))
    _mpesakit_b2c(mpesakit_client, callbacks, their_credential, 2)
    assert _next_callback(callbacks)["Result"]["ResultCode"] == 2001
