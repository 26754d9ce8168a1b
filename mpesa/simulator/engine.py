"""The offline Daraja simulator's rules and state.

State lives in the Django cache, so one process (runserver, a live-server test) works with the
default local-memory cache and several gunicorn workers work with Redis (CACHE_URL).

It knows its apps and shortcodes through ``registry`` (filled by the apps that own them), locks a
subscriber while a prompt is open, lets the customer answer fast (SIMULATOR_CALLBACK_DELAY) or
realistically (SIMULATOR_REALISTIC: 10-60 s), and writes its callbacks the several ways Daraja
does. Magic phone numbers pick the outcome (README, "The Daraja simulator"); every other number
succeeds. Money out and C2B live in ``money``.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import math
import random
import secrets
import string
import threading
import time
from dataclasses import asdict, dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation

import requests
from django.conf import settings
from django.core.cache import cache

from mpesa import rules
from mpesa.daraja import NAIROBI
from mpesa.simulator import registry

logger = logging.getLogger(__name__)

TOKEN_TTL = 3599
STATE_TTL = 24 * 3600
# How long a prompt lives on the phone before Daraja gives up (REFERENCE.md 4.4: about 60 s).
PROMPT_LIFETIME = 60.0
# Realistic mode: the customer reads the prompt and types the PIN in 10 to 60 s.
THINK_TIME_RANGE = (10.0, 60.0)
# Realistic mode: the same amount from the same phone within 2 minutes of a payment gets 17.
REPEAT_WINDOW = 120.0
SANDBOX_SHORTCODE = registry.SANDBOX_SHORTCODE
SANDBOX_PASSKEY = registry.SANDBOX_PASSKEY
SUCCESS_DESC = "The service request is processed successfully."
LOCKED_MESSAGE = "Unable to lock subscriber, a transaction is already in process for the current subscriber"

# phone → (result code, ResultDesc, delivery mode)
MAGIC_PHONES = {
    "254711000001": ("1032", "Request cancelled by user", "normal"),
    "254711000002": ("1037", "DS timeout user cannot be reached", "normal"),
    "254711000003": ("1", "The balance is insufficient for the transaction.", "normal"),
    "254711000004": ("2001", "The initiator information is invalid.", "normal"),
    "254711000005": ("0", SUCCESS_DESC, "none"),
    "254711000006": ("0", SUCCESS_DESC, "duplicate"),
    "254711000007": ("0", SUCCESS_DESC, "late"),
    "254711000009": ("SFC_IC0003", "The operator does not exist", "normal"),
    "254711000010": ("1019", "Transaction has expired", "normal"),
    "254711000011": ("1036", "SMSC ACK timeout.", "normal"),
    "254711000012": ("1031", "Request cancelled by user", "normal"),
    "254711000013": ("1001", LOCKED_MESSAGE, "normal"),
    "254711000014": ("1025", "An error occurred while sending a push request.", "normal"),
    "254711000015": ("17", "Rule limited.", "normal"),
}
LOCKED_SUBSCRIBER_PHONE = "254711000008"
# Outcomes where the customer never answers: in realistic mode they come when the prompt dies.
NO_ANSWER_CODES = {"1037", "1019"}

# How Daraja varies its callbacks (REFERENCE.md section 4), each picked at random per push.
AMOUNT_FORMATS = ("{}.00", "{}", "{}.0")
BALANCE_STYLES = ("no_value", "absent", "value")
DESC_PREFIXES = ("", "", "[STK_CB - ]", "[MpesaCB - ]")
RECEIPT_FIRST_LETTERS = "NOPQRSTU"


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


# "Invalid Access Token" differs per API product (REFERENCE.md section 2).
TOKEN_ERRORS = {
    "stk": (404, "404.001.03", "Invalid Access Token"),
    "b2c": (401, "401.002.01", "Error Occurred - Invalid Access Token - {token}"),
    "status": (400, "400.003.01", "Invalid Access Token"),
    "c2b": (400, "400.003.01", "Invalid Access Token"),
}


def check_bearer(header: str | None, product: str = "stk") -> None:
    if not header or not header.startswith("Bearer "):
        raise DarajaError(404, "404.001.04", "Invalid Authentication Header")
    token = header[7:].strip()
    if not cache.get(f"sim:token:{token}"):
        status, code, message = TOKEN_ERRORS.get(product, TOKEN_ERRORS["stk"])
        raise DarajaError(status, code, message.format(token=token))


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
    # When the customer answered (the callback's TransactionDate), YYYYMMDDHHmmss in EAT.
    paid_at: str = ""
    # How this callback is written: Amount as "10.00", "10" or "10.0"; the Balance item without
    # a Value, absent, or with one; a "[STK_CB - ]"-style prefix on ResultDesc.
    amount_format: str = "{}.00"
    balance_style: str = "no_value"
    desc_prefix: str = ""


def _digits(value, field: str, pattern) -> str:
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise bad_request(field)
    text = str(value).strip()
    if not pattern.match(text):
        raise bad_request(field)
    return text


def _amount(value) -> int:
    """Whole shillings, however the number is written: 10, "10", 10.0 and "10.0" are all ten."""
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise bad_request("Amount")
    try:
        amount = Decimal(str(value).strip())
    except InvalidOperation:
        raise bad_request("Amount") from None
    if not amount.is_finite() or amount != amount.to_integral_value() or not 1 <= amount <= 250_000:
        raise bad_request("Amount")
    return int(amount)


def _merchant(shortcode: str, password, timestamp: str) -> list[registry.Shortcode]:
    """The entries Daraja has under this shortcode whose passkey built this Password."""
    entries = registry.shortcodes(shortcode)
    if not entries:
        raise DarajaError(500, "500.001.1001", "Merchant does not exist")
    wrong = DarajaError(500, "500.001.1001", "Wrong credentials")
    if not isinstance(password, str):
        raise wrong
    try:
        decoded = base64.b64decode(password, validate=True).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise wrong from None
    matching = [e for e in entries if decoded == f"{shortcode}{e.passkey}{timestamp}"]
    if not matching:
        raise wrong
    return matching


def _lock_subscriber(phone: str, until: float) -> bool:
    """One open prompt per phone, released when the customer has answered (``until``)."""
    key = f"sim:lock:{phone}"
    ttl = max(1, math.ceil(until - time.time()))
    if cache.add(key, until, ttl):
        return True
    held = cache.get(key)
    if held is None or held <= time.time():
        cache.set(key, until, ttl)
        return True
    return False


def think_time(result_code: str) -> float:
    """Seconds until the customer's answer is decided (and the callback sent)."""
    if not settings.SIMULATOR_REALISTIC:
        return settings.SIMULATOR_CALLBACK_DELAY
    if result_code in NO_ANSWER_CODES:
        return PROMPT_LIFETIME
    return _random.uniform(*THINK_TIME_RANGE)


_random = random.SystemRandom()


def pick_style() -> dict:
    return {
        "amount_format": _random.choice(AMOUNT_FORMATS),
        "balance_style": _random.choice(BALANCE_STYLES),
        "desc_prefix": _random.choice(DESC_PREFIXES),
    }


def new_receipt() -> str:
    return _random.choice(RECEIPT_FIRST_LETTERS) + "".join(_random.choice(string.ascii_uppercase + string.digits) for _ in range(9))


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
    amount = _amount(body.get("Amount"))
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
    merchants = _merchant(shortcode, body.get("Password"), timestamp)

    result_code, result_desc, delivery = MAGIC_PHONES.get(phone, ("0", SUCCESS_DESC, "normal"))
    # Till vs Paybill, as Safaricom reports a mix-up: in the callback, not in the ack.
    if transaction_type == rules.PAYBILL and party_b != shortcode:
        result_code, result_desc, delivery = "SFC_IC0003", "The operator does not exist", "normal"
    elif transaction_type == rules.BUY_GOODS and party_b == shortcode:
        result_code, result_desc, delivery = "SFC_IC0003", "The operator does not exist", "normal"
    elif transaction_type == rules.BUY_GOODS and all(m.kind == registry.PAYBILL for m in merchants):
        result_code, result_desc, delivery = "2028", "The request is not permitted according to product assignment", "normal"

    delay = settings.SIMULATOR_LATE_CALLBACK_DELAY if delivery == "late" else think_time(result_code)
    decide_at = time.time() + delay
    if phone == LOCKED_SUBSCRIBER_PHONE or party_a == LOCKED_SUBSCRIBER_PHONE or not _lock_subscriber(phone, decide_at):
        raise DarajaError(500, "500.001.1001", LOCKED_MESSAGE)
    if settings.SIMULATOR_REALISTIC and result_code == "0":
        # Daraja's rule 17: the same amount from the same customer within 2 minutes of a payment.
        repeat_key = f"sim:paid:{phone}:{amount}"
        if cache.get(repeat_key, 0) > time.time():
            result_code, result_desc, delivery = "17", "Rule limited.", "normal"
        else:
            cache.set(repeat_key, decide_at + REPEAT_WINDOW, math.ceil(delay + REPEAT_WINDOW))

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
        decide_at=decide_at,
        receipt=new_receipt(),
        paid_at=datetime.fromtimestamp(decide_at, NAIROBI).strftime("%Y%m%d%H%M%S"),
        **pick_style(),
    )
    cache.set(f"sim:checkout:{checkout.checkout_request_id}", asdict(checkout), STATE_TTL)
    if result_code == "0":
        record_transaction(checkout.receipt, amount=amount, debit=f"{phone} - JOHN DOE", credit=shortcode,
                           reason="Customer Payment via STK", at=checkout.paid_at)
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


def record_transaction(receipt: str, *, amount: int, debit: str, credit: str, reason: str, at: str) -> None:
    """A completed M-Pesa transaction that transaction status can find and reversal can reverse."""
    cache.set(f"sim:tx:{receipt}", {"amount": amount, "debit": debit, "credit": credit, "reason": reason, "at": at,
                                    "reversed": False}, STATE_TTL)


def transaction(receipt) -> dict | None:
    return cache.get(f"sim:tx:{receipt}") if isinstance(receipt, str) and receipt else None


def callback_body(checkout: Checkout) -> str:
    """The callback as Daraja writes it: ResultCode a number, except non-numeric codes such as
    "SFC_IC0003", which arrive as strings; on success Amount written as 10.00, 10 or 10.0, the
    Balance item without a Value, absent or with one, PhoneNumber and TransactionDate (when the
    customer paid) as numbers; ResultDesc sometimes with an "[STK_CB - ]"-style prefix."""
    code = int(checkout.result_code) if checkout.result_code.isdigit() else checkout.result_code
    stk = {
        "MerchantRequestID": checkout.merchant_request_id,
        "CheckoutRequestID": checkout.checkout_request_id,
        "ResultCode": code,
        "ResultDesc": checkout.desc_prefix + checkout.result_desc,
    }
    if checkout.result_code == "0":
        items = [
            {"Name": "Amount", "Value": "__AMOUNT__"},
            {"Name": "MpesaReceiptNumber", "Value": checkout.receipt},
        ]
        if checkout.balance_style == "no_value":
            items.append({"Name": "Balance"})
        elif checkout.balance_style == "value":
            items.append({"Name": "Balance", "Value": "__BALANCE__"})
        items += [
            {"Name": "TransactionDate", "Value": int(checkout.paid_at or datetime.now(NAIROBI).strftime("%Y%m%d%H%M%S"))},
            {"Name": "PhoneNumber", "Value": int(checkout.phone)},
        ]
        stk["CallbackMetadata"] = {"Item": items}
    text = json.dumps({"Body": {"stkCallback": stk}})
    return text.replace('"__AMOUNT__"', checkout.amount_format.format(checkout.amount)).replace('"__BALANCE__"', "0.00")


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
    _merchant(shortcode, body.get("Password"), timestamp)
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
