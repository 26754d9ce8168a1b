"""The offline Daraja simulator's rules and state.

State lives in the Django cache, so one process (runserver, a live-server test) works with the
default local-memory cache and several gunicorn workers work with Redis (CACHE_URL).

Magic phone numbers pick the outcome (README, "Simulator"); every other number succeeds.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import secrets
import string
import threading
import time
from dataclasses import asdict, dataclass
from datetime import datetime

import requests
from django.conf import settings
from django.core.cache import cache

from mpesa import rules
from mpesa.daraja import NAIROBI

logger = logging.getLogger(__name__)

SANDBOX_SHORTCODE = "174379"
SANDBOX_PASSKEY = "bfb279f9aa9bdbcf158e97dd71a467cd2e0c893059b10f78e6b72ada1ed2c919"
TOKEN_TTL = 3599
STATE_TTL = 24 * 3600

# phone → (result code, ResultDesc, delivery mode)
MAGIC_PHONES = {
    "254711000001": ("1032", "Request cancelled by user", "normal"),
    "254711000002": ("1037", "DS timeout user cannot be reached", "normal"),
    "254711000003": ("1", "The balance is insufficient for the transaction.", "normal"),
    "254711000004": ("2001", "The initiator information is invalid.", "normal"),
    "254711000005": ("0", "The service request is processed successfully.", "none"),
    "254711000006": ("0", "The service request is processed successfully.", "duplicate"),
    "254711000007": ("0", "The service request is processed successfully.", "late"),
    "254711000009": ("SFC_IC0003", "The operator does not exist", "normal"),
}
LOCKED_SUBSCRIBER_PHONE = "254711000008"


def wallet_paybill() -> str:
    from wallet.constants import wallet_paybill as configured

    return configured()


def known_passkeys() -> dict[str, str]:
    keys = {SANDBOX_SHORTCODE: SANDBOX_PASSKEY}
    if settings.MPESA_PASSKEY_WALLET:
        keys[wallet_paybill()] = settings.MPESA_PASSKEY_WALLET
    return keys


def known_paybills() -> set[str]:
    return {SANDBOX_SHORTCODE, wallet_paybill()}


class DarajaError(Exception):
    def __init__(self, status: int, code: str, message: str, request_id: str | None = None):
        self.status = status
        self.body = {
            "requestId": request_id or _request_id(),
            "errorCode": code,
            "errorMessage": message,
        }
        super().__init__(message)


def _request_id() -> str:
    return f"{secrets.token_hex(2)}-{secrets.token_hex(2)}-{secrets.token_hex(2)}-{secrets.token_hex(10)}"


def bad_request(field: str) -> DarajaError:
    return DarajaError(400, "400.002.02", f"Bad Request - Invalid {field}")


# --- OAuth ------------------------------------------------------------------------------------


def issue_token(consumer_key: str) -> str:
    """A new token for this app; like Daraja, it invalidates the app's previous token."""
    token = "".join(secrets.choice(string.ascii_letters + string.digits) for _ in range(28))
    previous = cache.get(f"sim:app:{consumer_key}")
    if previous:
        cache.delete(f"sim:token:{previous}")
    cache.set(f"sim:app:{consumer_key}", token, TOKEN_TTL)
    cache.set(f"sim:token:{token}", consumer_key, TOKEN_TTL)
    _count("oauth")
    return token


def check_bearer(header: str | None) -> None:
    if not header or not header.startswith("Bearer "):
        raise DarajaError(404, "404.001.04", "Invalid Authentication Header")
    if not cache.get(f"sim:token:{header[7:].strip()}"):
        raise DarajaError(404, "404.001.03", "Invalid Access Token")


def _count(name: str) -> None:
    key = f"sim:count:{name}"
    if not cache.add(key, 1, STATE_TTL):
        try:
            cache.incr(key)
        except ValueError:
            cache.set(key, 1, STATE_TTL)


def counter(name: str) -> int:
    return cache.get(f"sim:count:{name}", 0)


# --- STK push ---------------------------------------------------------------------------------


@dataclass
class Checkout:
    checkout_request_id: str
    merchant_request_id: str
    shortcode: str
    amount: int
    phone: str
    callback_url: str
    result_code: str
    result_desc: str
    delivery: str
    decide_at: float
    receipt: str


def _digits(value, field: str, pattern) -> str:
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise bad_request(field)
    text = str(value).strip()
    if not pattern.match(text):
        raise bad_request(field)
    return text


def _check_password(shortcode: str, password, timestamp: str) -> None:
    wrong = DarajaError(500, "500.001.1001", "Wrong credentials")
    if not isinstance(password, str):
        raise wrong
    try:
        decoded = base64.b64decode(password, validate=True).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise wrong from None
    passkey = known_passkeys().get(shortcode)
    if passkey is not None:
        if decoded != f"{shortcode}{passkey}{timestamp}":
            raise wrong
    elif not (decoded.startswith(shortcode) and decoded.endswith(timestamp) and len(decoded) > len(shortcode) + len(timestamp)):
        raise wrong


def start_push(body) -> dict:
    """Validate like Daraja, remember the checkout, schedule the callback. Returns the ack."""
    if not isinstance(body, dict):
        raise DarajaError(400, "400.002.05", "Invalid Request Payload")
    shortcode = _digits(body.get("BusinessShortCode"), "BusinessShortCode", rules.SHORTCODE_RE)
    timestamp = _digits(body.get("Timestamp"), "Timestamp", rules.TIMESTAMP_RE)
    try:
        datetime.strptime(timestamp, "%Y%m%d%H%M%S")
    except ValueError:
        raise bad_request("Timestamp") from None
    transaction_type = body.get("TransactionType")
    if transaction_type not in (rules.PAYBILL, rules.BUY_GOODS):
        raise bad_request("TransactionType")
    amount_raw = body.get("Amount")
    try:
        if isinstance(amount_raw, bool):
            raise ValueError
        amount = int(str(amount_raw).strip())
        if str(amount) != str(amount_raw).strip() and not (isinstance(amount_raw, float) and amount_raw.is_integer()):
            raise ValueError
    except (TypeError, ValueError):
        raise bad_request("Amount") from None
    if not 1 <= amount <= 250_000:
        raise bad_request("Amount")
    party_a = _digits(body.get("PartyA"), "PartyA", rules.PHONE_RE)
    phone = _digits(body.get("PhoneNumber"), "PhoneNumber", rules.PHONE_RE)
    party_b = _digits(body.get("PartyB"), "PartyB", rules.SHORTCODE_RE)
    callback_url = body.get("CallBackURL")
    if not isinstance(callback_url, str) or rules.callback_url_problem(callback_url):
        raise bad_request("CallBackURL")
    reference = body.get("AccountReference")
    if not isinstance(reference, str) or not reference or len(reference) > rules.ACCOUNT_REFERENCE_MAX:
        raise bad_request("AccountReference")
    description = body.get("TransactionDesc", "")
    if description is not None and (not isinstance(description, str) or len(description) > rules.TRANSACTION_DESC_MAX):
        raise bad_request("TransactionDesc")
    _check_password(shortcode, body.get("Password"), timestamp)
    if phone == LOCKED_SUBSCRIBER_PHONE or party_a == LOCKED_SUBSCRIBER_PHONE:
        raise DarajaError(
            500, "500.001.1001", "Unable to lock subscriber, a transaction is already in process for the current subscriber"
        )

    result_code, result_desc, delivery = MAGIC_PHONES.get(phone, ("0", "The service request is processed successfully.", "normal"))
    # Till vs Paybill, as Safaricom reports a mix-up: in the callback, not in the ack.
    if transaction_type == rules.PAYBILL and party_b != shortcode:
        result_code, result_desc, delivery = "SFC_IC0003", "The operator does not exist", "normal"
    elif transaction_type == rules.BUY_GOODS and party_b == shortcode:
        result_code, result_desc, delivery = "SFC_IC0003", "The operator does not exist", "normal"
    elif transaction_type == rules.BUY_GOODS and shortcode in known_paybills():
        result_code, result_desc, delivery = "2028", "The request is not permitted according to product assignment", "normal"

    delay = settings.SIMULATOR_CALLBACK_DELAY
    if delivery == "late":
        delay = settings.SIMULATOR_LATE_CALLBACK_DELAY
    now = datetime.now(NAIROBI)
    checkout = Checkout(
        checkout_request_id=f"ws_CO_{now.strftime('%d%m%Y%H%M%S')}{secrets.randbelow(10**12):012d}",
        merchant_request_id=_request_id(),
        shortcode=shortcode,
        amount=amount,
        phone=phone,
        callback_url=callback_url,
        result_code=result_code,
        result_desc=result_desc,
        delivery=delivery,
        decide_at=time.time() + delay,
        receipt="T" + "".join(secrets.choice(string.ascii_uppercase + string.digits) for _ in range(9)),
    )
    cache.set(f"sim:checkout:{checkout.checkout_request_id}", asdict(checkout), STATE_TTL)
    _count("stkpush")
    if delivery != "none":
        _schedule(checkout, delay)
        if delivery == "duplicate":
            _schedule(checkout, delay + 0.3)
    return {
        "MerchantRequestID": checkout.merchant_request_id,
        "CheckoutRequestID": checkout.checkout_request_id,
        "ResponseCode": "0",
        "ResponseDescription": "Success. Request accepted for processing",
        "CustomerMessage": "Success. Request accepted for processing",
    }


def callback_body(checkout: Checkout) -> str:
    """The callback as Daraja writes it: numbers where it sends numbers (Amount as 10.00, a
    Balance item with no Value, PhoneNumber and TransactionDate as numbers); ResultCode a
    number, except non-numeric codes such as "SFC_IC0003", which arrive as strings."""
    code = int(checkout.result_code) if checkout.result_code.isdigit() else checkout.result_code
    stk = {
        "MerchantRequestID": checkout.merchant_request_id,
        "CheckoutRequestID": checkout.checkout_request_id,
        "ResultCode": code,
        "ResultDesc": checkout.result_desc,
    }
    if checkout.result_code == "0":
        stk["CallbackMetadata"] = {
            "Item": [
                {"Name": "Amount", "Value": "__AMOUNT__"},
                {"Name": "MpesaReceiptNumber", "Value": checkout.receipt},
                {"Name": "Balance"},
                {"Name": "TransactionDate", "Value": int(datetime.now(NAIROBI).strftime("%Y%m%d%H%M%S"))},
                {"Name": "PhoneNumber", "Value": int(checkout.phone)},
            ]
        }
    text = json.dumps({"Body": {"stkCallback": stk}})
    return text.replace('"__AMOUNT__"', f"{checkout.amount}.00")


def _schedule(checkout: Checkout, delay: float) -> None:
    timer = threading.Timer(delay, deliver_callback, args=(checkout,))
    timer.daemon = True
    timer.start()


def deliver_callback(checkout: Checkout) -> int | None:
    """POST the callback once, like Daraja: no retries (REFERENCE.md 4.3)."""
    try:
        response = requests.post(
            checkout.callback_url,
            data=callback_body(checkout).encode(),
            headers={"Content-Type": "application/json"},
            timeout=10,
        )
        _count("callbacks")
        return response.status_code
    except requests.RequestException as exc:
        logger.warning("Simulator could not deliver a callback: %s", type(exc).__name__)
        return None


def query(body) -> tuple[int, dict]:
    if not isinstance(body, dict):
        raise DarajaError(400, "400.002.05", "Invalid Request Payload")
    shortcode = _digits(body.get("BusinessShortCode"), "BusinessShortCode", rules.SHORTCODE_RE)
    timestamp = _digits(body.get("Timestamp"), "Timestamp", rules.TIMESTAMP_RE)
    _check_password(shortcode, body.get("Password"), timestamp)
    checkout_id = body.get("CheckoutRequestID")
    state = cache.get(f"sim:checkout:{checkout_id}") if isinstance(checkout_id, str) else None
    if state is None:
        raise bad_request("CheckoutRequestID")
    checkout = Checkout(**state)
    if time.time() < checkout.decide_at:
        raise DarajaError(500, "500.001.1001", "The transaction is being processed", request_id=checkout.checkout_request_id)
    return 200, {
        "ResponseCode": "0",
        # Real responses spell it with three s (REFERENCE.md section 5).
        "ResponseDescription": "The service request has been accepted successsfully",
        "MerchantRequestID": checkout.merchant_request_id,
        "CheckoutRequestID": checkout.checkout_request_id,
        "ResultCode": checkout.result_code,
        "ResultDesc": checkout.result_desc,
    }
