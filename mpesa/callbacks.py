"""The one callback view: store raw → check source → resolve by token → verify → apply → answer.

Nothing here ever answers 500. Daraja gets ``{"ResultCode": 0, "ResultDesc": "Accepted"}`` for
every delivery we stored and understood (unknown tokens included: a forger learns nothing);
malformed bodies get a 4xx JSON answer.
"""

from __future__ import annotations

import ipaddress
import json
import logging

from django.conf import settings
from django.http import JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from mpesa import outcomes
from mpesa.daraja import DarajaRejected, DarajaUnavailable
from mpesa.models import CallbackDelivery, StkPush
from mpesa.services import (
    ApplyOutcome,
    PushResult,
    parse_transaction_date,
    stk_push_apply_result,
    stk_push_mark_review,
    stk_push_query,
    to_decimal,
)
from payme import metrics, sql

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


def _record(request, token, raw, outcome, detail="", push=None):
    # Plain SQL (payme/sql.py): this insert runs for every delivery.
    return sql.insert(CallbackDelivery(
        push=push,
        token_prefix=token[:8],
        body=raw.decode("utf-8", errors="replace"),
        remote_addr=request.META.get("REMOTE_ADDR") or None,
        forwarded_for=request.META.get("HTTP_X_FORWARDED_FOR", "")[:255],
        outcome=outcome,
        detail=detail[:255],
    ))


def _reply(outcome, status=200):
    metrics.callback_received(outcome)
    if status == 200:
        return JsonResponse(ACCEPTED)
    return JsonResponse({"ResultCode": 1, "ResultDesc": f"Rejected: {outcome}"}, status=status)


def _answer(request, token, raw, outcome, detail="", status=200, push=None):
    """Store the delivery with its (already known) outcome, then answer."""
    _record(request, token, raw, outcome, detail, push)
    return _reply(outcome, status)


@csrf_exempt
@require_POST
def daraja_callback(request, token: str):
    try:
        return _handle(request, token)
    except Exception:
        # Never a 500 to Safaricom. A 503 says "try later" if it retries; the raw delivery
        # (if it was stored) and the log keep what we need to replay it by hand.
        logger.exception("Callback handling failed")
        metrics.callback_received("error")
        return JsonResponse({"ResultCode": 1, "ResultDesc": "Temporarily unavailable"}, status=503)


def _handle(request, token):
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
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return _answer(request, token, raw, Outcome.MALFORMED, "not JSON", status=400)

    push = sql.select_by(StkPush, callback_token=token) if len(token) <= 64 else None
    if push is None:
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
        confirmation = _confirm(push)
        if confirmation == "pending":
            return _finish(delivery, Outcome.LEFT_PENDING, "STK query says still processing")
        if confirmation != outcomes.SUCCESS:
            stk_push_mark_review(push_id=push.pk, reason=f"Callback said paid; STK query said {confirmation}.")
            return _finish(delivery, Outcome.REVIEW, "query contradicts callback")

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


def _finish(delivery, outcome, detail=""):
    _set_outcome(delivery, outcome, detail)
    return _reply(outcome)


def _confirm(push) -> str:
    """STK query before applying a success. Returns a result code, or "pending" when Daraja says
    it is still processing or the query itself failed: the push then stays open, the delivery is
    kept, and reconciliation applies it (with its receipt) once a query says "0"."""
    try:
        answer = stk_push_query(push=push)
    except (DarajaRejected, DarajaUnavailable) as exc:
        logger.warning("Confirmation query for %s failed: %s", push.public_id, exc)
        return "pending"
    if answer.pending:
        return "pending"
    return answer.result_code
