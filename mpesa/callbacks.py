"""The one callback view: store raw → check source → resolve by token → verify → apply → answer.

Nothing here ever answers 500. Daraja gets ``{"ResultCode": 0, "ResultDesc": "Accepted"}`` for
every delivery we stored and understood (unknown tokens included: a forger learns nothing);
malformed bodies get a 4xx JSON answer.
"""

from __future__ import annotations

import base64
import ipaddress
import logging

from django.conf import settings
from django.db import transaction
from django.http import JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from mpesa import c2b, outcomes
from mpesa.commands import TIMEOUT_SUFFIX, MalformedResult, daraja_command_apply_result, parse_result
from mpesa.commands import ApplyOutcome as CommandOutcome
from mpesa.models import C2BRegistration, CallbackDelivery, DarajaCommand, StkPush
from mpesa.services import (
    ApplyOutcome,
    PushResult,
    parse_transaction_date,
    stk_push_apply_result,
    stk_push_enqueue_confirmation,
    to_decimal,
)
from payme import metrics, sql
from payme.parsers import loads_bounded

logger = logging.getLogger(__name__)
Outcome = CallbackDelivery.Outcome

ACCEPTED = {"ResultCode": 0, "ResultDesc": "Accepted"}


class MalformedCallback(ValueError):
    pass


def _text(value, limit, name, *, required=True):
    if value is None or value == "":
        if required:
            raise MalformedCallback(f"{name} is missing")
        return None
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise MalformedCallback(f"{name} has the wrong type")
    text = str(value).strip()
    if len(text) > limit:
        raise MalformedCallback(f"{name} is too long")
    return text


def parse_callback(body) -> PushResult:
    """``Body.stkCallback`` → PushResult. Items are read by Name; ResultCode may be a number or a
    string ("SFC_IC0003"); Amount may be 1.00; Balance may have no Value; PhoneNumber and
    TransactionDate are numbers. Raises MalformedCallback."""
    if not isinstance(body, dict):
        raise MalformedCallback("body is not an object")
    outer = body.get("Body")
    stk = outer.get("stkCallback") if isinstance(outer, dict) else None
    if not isinstance(stk, dict):
        raise MalformedCallback("Body.stkCallback is missing")
    checkout = _text(stk.get("CheckoutRequestID"), 64, "CheckoutRequestID")
    merchant = _text(stk.get("MerchantRequestID"), 64, "MerchantRequestID", required=False)
    code = stk.get("ResultCode")
    if isinstance(code, float) and code.is_integer():
        code = int(code)
    result_code = _text(code, 32, "ResultCode")
    result_desc = stk.get("ResultDesc")
    result_desc = str(result_desc)[:255] if isinstance(result_desc, (str, int)) and not isinstance(result_desc, bool) else ""
    result = PushResult(
        result_code=result_code,
        result_desc=result_desc,
        checkout_request_id=checkout,
        merchant_request_id=merchant,
        raw=body,
    )
    if result_code != outcomes.SUCCESS:
        return result
    metadata = stk.get("CallbackMetadata")
    items = metadata.get("Item") if isinstance(metadata, dict) else None
    if not isinstance(items, list):
        raise MalformedCallback("CallbackMetadata.Item is missing")
    values = {}
    for item in items:
        if isinstance(item, dict) and isinstance(item.get("Name"), str):
            values[item["Name"]] = item.get("Value")
    amount = to_decimal(values.get("Amount"))
    if amount is None or amount <= 0:
        raise MalformedCallback("Amount is missing or not a positive number")
    receipt = _text(values.get("MpesaReceiptNumber"), 32, "MpesaReceiptNumber")
    if not receipt.isalnum():
        raise MalformedCallback("MpesaReceiptNumber is not alphanumeric")
    phone = _text(values.get("PhoneNumber"), 16, "PhoneNumber", required=False)
    result.amount = amount
    result.receipt = receipt
    result.phone = phone
    result.transaction_date = parse_transaction_date(values.get("TransactionDate"))
    return result


def client_ip(request) -> str | None:
    """The caller's address: REMOTE_ADDR, or the entry our N trusted proxies put in
    X-Forwarded-For (counted from the right, so a forged left-most entry is ignored)."""
    remote = request.META.get("REMOTE_ADDR")
    hops = settings.MPESA_CALLBACK_TRUSTED_PROXIES
    if hops <= 0:
        return remote
    forwarded = [part.strip() for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if part.strip()]
    if len(forwarded) < hops:
        return remote
    return forwarded[-hops]


def _ip_allowed(ip: str | None) -> bool:
    allowed = settings.MPESA_CALLBACK_ALLOWED_IPS
    if not allowed:
        return True
    if not ip:
        return False
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return False
    for entry in allowed:
        try:
            if address in ipaddress.ip_network(entry.strip(), strict=False):
                return True
        except ValueError:
            continue
    return False


BASE64_PREFIX = "base64:"


def stored_body(raw: bytes) -> tuple[str, bool]:
    """The delivery's body as text a database column takes, byte for byte recoverable: UTF-8
    text as it came, or ``base64:…`` when it is not UTF-8 or holds a NUL (PostgreSQL refuses NUL
    in text: ``b"\\xff\\xfe\\x00"`` was a 503 with a traceback, issue #13). Returns (text, encoded)."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        text = None
    if text is None or "\x00" in text or text.startswith(BASE64_PREFIX):
        return BASE64_PREFIX + base64.b64encode(raw).decode("ascii"), True
    return text, False


def _record(request, token, raw, outcome, detail="", push=None, command=None):
    body, encoded = stored_body(raw)
    if encoded:
        detail = f"{detail} (body stored as base64)".strip()
    # Plain SQL (payme/sql.py): this insert runs for every delivery.
    return sql.insert(CallbackDelivery(
        push=push,
        command=command,
        token_prefix=token[:8],
        body=body,
        remote_addr=request.META.get("REMOTE_ADDR") or None,
        forwarded_for=_printable(request.META.get("HTTP_X_FORWARDED_FOR", ""))[:255],
        outcome=outcome,
        detail=_printable(detail)[:255],
    ))


def _printable(text: str) -> str:
    return "".join(ch for ch in text if ch.isprintable())


def _unstorable_text(value) -> str | None:
    """What in parsed JSON no text column takes: NUL (PostgreSQL refuses it in text and jsonb) or a
    lone surrogate such as ``\\ud800`` (no UTF-8 encoding exists). Valid JSON can spell both as
    escapes; no Daraja field has either. Returns a short description, or None."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if "\x00" in item:
                return "NUL character in the JSON"
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                return "lone surrogate in the JSON"
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return None


def _reply(outcome, status=200):
    metrics.callback_received(outcome)
    if status == 200:
        return JsonResponse(ACCEPTED)
    return JsonResponse({"ResultCode": 1, "ResultDesc": f"Rejected: {outcome}"}, status=status)


def _answer(request, token, raw, outcome, detail="", status=200, push=None, command=None):
    """Store the delivery with its (already known) outcome, then answer."""
    _record(request, token, raw, outcome, detail, push, command)
    return _reply(outcome, status)


@csrf_exempt
@require_POST
def daraja_callback(request, token: str, kind: str = "confirmation"):
    try:
        return _handle(request, token, kind)
    except Exception:
        # Never a 500 to Safaricom. A 503 says "try later" if it retries; the raw delivery
        # (if it was stored) and the log keep what we need to replay it by hand.
        logger.exception("Callback handling failed")
        metrics.callback_received("error")
        return JsonResponse({"ResultCode": 1, "ResultDesc": "Temporarily unavailable"}, status=503)


def _handle(request, token, kind="confirmation"):
    # Every delivery is stored. Until the apply step nothing else is written, so the row is
    # stored once, with its outcome; before the apply step it is stored (committed) first.
    length = request.META.get("CONTENT_LENGTH") or "0"
    too_large = not length.isdigit() or int(length) > settings.MPESA_CALLBACK_MAX_BYTES
    raw = b"" if too_large else request.read(settings.MPESA_CALLBACK_MAX_BYTES + 1)
    if too_large or len(raw) > settings.MPESA_CALLBACK_MAX_BYTES:
        return _answer(request, token, b"", Outcome.TOO_LARGE, f"Content-Length {length[:20]}", status=413)

    ip = client_ip(request)
    if not _ip_allowed(ip):
        logger.warning("Callback from %s refused by the allow-list", ip)
        return _answer(request, token, raw, Outcome.FORBIDDEN_IP, f"source {ip}", status=403)

    try:
        body = loads_bounded(raw)
    except (ValueError, UnicodeDecodeError):  # nesting beyond MAX_JSON_DEPTH is a ValueError too
        return _answer(request, token, raw, Outcome.MALFORMED, "not JSON", status=400)
    unstorable = _unstorable_text(body)
    if unstorable:
        return _answer(request, token, raw, Outcome.MALFORMED, unstorable, status=400)

    push = sql.select_by(StkPush, callback_token=token) if len(token) <= 64 and kind == "confirmation" else None
    if push is None:
        registration = sql.select_by(C2BRegistration, token=token) if len(token) <= 64 else None
        if registration is not None:
            return _handle_c2b(request, token, raw, body, registration, kind)
        # A Result or QueueTimeOut URL of a command (B2C, reversal, status, balance).
        command_token, timed_out = (token[: -len(TIMEOUT_SUFFIX)], True) if token.endswith(TIMEOUT_SUFFIX) else (token, False)
        command = DarajaCommand.objects.filter(callback_token=command_token).first() if len(command_token) <= 64 and kind == "confirmation" else None
        if command is not None:
            return _handle_command(request, token, raw, body, command, timed_out)
        logger.warning("Callback with an unknown token")
        return _answer(request, token, raw, Outcome.UNKNOWN_TOKEN)

    try:
        result = parse_callback(body)
    except MalformedCallback as exc:
        return _answer(request, token, raw, Outcome.MALFORMED, str(exc), status=400, push=push)

    if push.checkout_request_id and result.checkout_request_id != push.checkout_request_id:
        logger.warning("Callback for push %s carries another CheckoutRequestID", push.public_id)
        return _answer(request, token, raw, Outcome.MISMATCH, "CheckoutRequestID differs", push=push)

    # Fast path for the common duplicate: a success already applied with this receipt.
    if result.is_success and push.status == StkPush.Status.SUCCEEDED and push.mpesa_receipt == result.receipt:
        return _answer(request, token, raw, Outcome.DUPLICATE, push=push)

    delivery = _record(request, token, raw, Outcome.RECEIVED, push=push)

    if result.is_success and settings.MPESA_CONFIRM_CALLBACKS and push.status in StkPush.OPEN_STATUSES and push.checkout_request_id:
        # A worker confirms with an STK query (never in this request) and then applies the stored
        # delivery; reconciliation does the same if the query says "still processing".
        with transaction.atomic():
            _set_outcome(delivery, Outcome.LEFT_PENDING, "waiting for the STK query that confirms it")
            stk_push_enqueue_confirmation(push)
        return _reply(Outcome.LEFT_PENDING)

    # The delivery's outcome is written in the apply transaction: one commit, not two.
    outcome = stk_push_apply_result(
        push_id=push.pk, result=result, verify_details=True,
        then=lambda applied: _set_outcome(delivery, _OUTCOMES[applied], result.result_code),
    )
    return _reply(_OUTCOMES[outcome])


_OUTCOMES = {
    ApplyOutcome.APPLIED: Outcome.APPLIED,
    ApplyOutcome.DUPLICATE: Outcome.DUPLICATE,
    ApplyOutcome.REVIEW: Outcome.REVIEW,
    ApplyOutcome.IGNORED: Outcome.IGNORED,
}


def _set_outcome(delivery, outcome, detail=""):
    delivery.outcome, delivery.detail = outcome, detail[:255]
    sql.update(delivery, ["outcome", "detail"])


# --- C2B (payments from the phone menu) -------------------------------------------------------


def _handle_c2b(request, token, raw, body, registration, kind):
    """Validation: answer at once (accept, or C2B00012 as the owner chose). Confirmation: parse,
    record once by TransID and match, in one transaction with the delivery's outcome. Daraja
    gets ResultCode 0 for every confirmation we stored, duplicates included."""
    if kind == "validation":
        answer = c2b.c2b_validate(registration=registration, body=body)
        outcome = Outcome.C2B_ACCEPTED if answer["ResultCode"] == "0" else Outcome.C2B_REJECTED
        _record(request, token, raw, outcome, f"validation {answer['ResultCode']}")
        return JsonResponse(answer)
    try:
        payment = c2b.parse_confirmation(body, registration)
    except c2b.MalformedC2B as exc:
        logger.warning("Malformed C2B confirmation: %s", exc)
        return _answer(request, token, raw, Outcome.MALFORMED, f"C2B: {exc}", status=400)
    delivery = _record(request, token, raw, Outcome.RECEIVED, f"C2B {payment.trans_id}")

    def then(receipt):
        if receipt is None:
            _set_outcome(delivery, Outcome.DUPLICATE, f"C2B {payment.trans_id}")
        else:
            outcome = Outcome.REVIEW if receipt.status == receipt.Status.REVIEW else Outcome.APPLIED
            _set_outcome(delivery, outcome, f"C2B {payment.trans_id} {receipt.status}")

    c2b.c2b_receipt_record(registration=registration, payment=payment, raw=body, then=then)
    return JsonResponse(ACCEPTED)


_COMMAND_OUTCOMES = {
    CommandOutcome.APPLIED: Outcome.APPLIED,
    CommandOutcome.DUPLICATE: Outcome.DUPLICATE,
    CommandOutcome.REVIEW: Outcome.REVIEW,
    CommandOutcome.IGNORED: Outcome.IGNORED,
    CommandOutcome.LEFT_OPEN: Outcome.LEFT_PENDING,
}


def _handle_command(request, token, raw, body, command, timed_out):
    """A Result (or QueueTimeOut) delivery for a command: stored first, then applied once under
    the command's row lock; a result that does not match the command goes to review."""
    try:
        result = parse_result(body, queue_timeout=timed_out)
    except MalformedResult as exc:
        return _answer(request, token, raw, Outcome.MALFORMED, str(exc), status=400, command=command)
    delivery = _record(request, token, raw, Outcome.RECEIVED, command=command)
    outcome = daraja_command_apply_result(command_id=command.pk, result=result, verify_details=True)
    _set_outcome(delivery, _COMMAND_OUTCOMES[outcome], result.result_code)
    return _reply(_COMMAND_OUTCOMES[outcome])
