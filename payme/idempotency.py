"""``Idempotency-Key`` for every POST that starts a payment.

- First request with a key: runs, and its response (success or error) is stored.
- Retry with the same key and the same body: the stored response, nothing runs again.
- Same key, different body: 422 ``idempotency_key_reused``.
- Same key while the first request is still running: 409 ``idempotency_request_in_progress``.
"""

import hashlib
import json

from django.db import IntegrityError, transaction
from rest_framework.response import Response

from payme.errors import ApplicationError, Conflict, UnprocessableEntity, ValidationFailed, error_body
from payme.models import IdempotencyKey

HEADER = "Idempotency-Key"
MAX_KEY_LENGTH = 255


def _request_hash(data) -> str:
    canonical = json.dumps(data, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def run_idempotent(request, *, business, scope, handler):
    """Run ``handler()`` (which returns a DRF Response or raises ApplicationError) at most once
    per (business, scope, Idempotency-Key). Without the header it simply runs the handler."""
    key = request.headers.get(HEADER)
    if key is None:
        return handler()
    key = key.strip()
    if not key or len(key) > MAX_KEY_LENGTH:
        raise ValidationFailed(
            "Idempotency-Key must be 1 to 255 characters.",
            code="invalid_idempotency_key",
            fields={HEADER: ["Must be 1 to 255 characters."]},
        )
    request_hash = _request_hash(request.data)
    try:
        with transaction.atomic():
            record = IdempotencyKey.objects.create(
                business=business, scope=scope, key=key, request_hash=request_hash
            )
    except IntegrityError:
        existing = IdempotencyKey.objects.get(business=business, scope=scope, key=key)
        if existing.request_hash != request_hash:
            raise UnprocessableEntity(
                "This Idempotency-Key was already used with a different request body.",
                code="idempotency_key_reused",
            ) from None
        if existing.state == IdempotencyKey.State.IN_PROGRESS:
            raise Conflict(
                "A request with this Idempotency-Key is still being processed.",
                code="idempotency_request_in_progress",
            ) from None
        response = Response(existing.response_body, status=existing.response_status)
        response["Idempotent-Replayed"] = "true"
        return response

    try:
        response = handler()
    except ApplicationError as exc:
        body = error_body(exc.code, exc.message, exc.fields, **exc.extra)
        _complete(record, exc.status_code, body)
        raise
    except Exception:
        # An unexpected crash: free the key so the client can retry. Payments are protected
        # anyway, because the STK push row exists before Daraja is called and is never re-sent.
        IdempotencyKey.objects.filter(pk=record.pk).delete()
        raise
    _complete(record, response.status_code, response.data)
    return response


def _complete(record, status_code, body):
    IdempotencyKey.objects.filter(pk=record.pk).update(
        state=IdempotencyKey.State.COMPLETED,
        response_status=status_code,
        response_body=json.loads(json.dumps(body, default=str)),
    )
