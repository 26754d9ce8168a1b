"""``Idempotency-Key`` for every POST that starts a payment.

- First request with a key: runs, and its response (success or error) is stored under the key in
  the same transaction as the rows it wrote — a key never exists without its answer, and an
  answer never exists without its rows.
- Retry with the same key and the same body: the stored response, nothing runs again.
- Same key, different body: 422 ``idempotency_key_reused``.
- Same key while the first request is still running: the second waits on the key's unique index
  (the first holds it for one short transaction; no Daraja call runs in a request) and then
  replays the first answer.
"""

import hashlib
import json

from django.db import IntegrityError, transaction
from rest_framework.response import Response

from payme import sql
from payme.errors import ApplicationError, UnprocessableEntity, ValidationFailed, error_body
from payme.models import IdempotencyKey

HEADER = "Idempotency-Key"
MAX_KEY_LENGTH = 255
_KEY_COLUMNS = ("business_id", "scope", "key")  # the idempotency_key_unique constraint


def _request_hash(data) -> str:
    canonical = json.dumps(data, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def _stored_body(body):
    return json.loads(json.dumps(body, default=str))


def run_idempotent(request, *, business, scope, handler):
    """Run ``handler()`` (which returns a DRF Response or raises ApplicationError) at most once
    per (business, scope, Idempotency-Key), in one transaction with the key. Without the header
    it simply runs the handler in a transaction (work it enqueues starts after the commit)."""
    key = request.headers.get(HEADER)
    if key is None:
        with transaction.atomic():
            return handler()
    key = key.strip()
    if not key or len(key) > MAX_KEY_LENGTH:
        raise ValidationFailed(
            "Idempotency-Key must be 1 to 255 characters.",
            code="invalid_idempotency_key",
            fields={HEADER: ["Must be 1 to 255 characters."]},
        )
    request_hash = _request_hash(request.data)
    identity = {"business": business, "scope": scope, "key": key}
    try:
        with transaction.atomic():
            # The key takes its unique slot before any work. ON CONFLICT DO NOTHING instead of
            # catching IntegrityError: no savepoint, and a concurrent holder of the key is waited
            # for just the same (PostgreSQL waits on the unique index, SQLite has one writer).
            record = sql.insert(
                IdempotencyKey(**identity, request_hash=request_hash), unless_exists=_KEY_COLUMNS,
            )
            if record is not None:
                response = handler()
                record.state = IdempotencyKey.State.COMPLETED
                record.response_status = response.status_code
                record.response_body = _stored_body(response.data)
                sql.update(record, ["state", "response_status", "response_body"])
                return response
    except ApplicationError as exc:
        # The handler's rows rolled back with the key; the refusal is the answer a retry gets.
        body = _stored_body(error_body(exc.code, exc.message, exc.fields, **exc.extra))
        try:
            with transaction.atomic():
                IdempotencyKey.objects.create(
                    **identity, request_hash=request_hash, state=IdempotencyKey.State.COMPLETED,
                    response_status=exc.status_code, response_body=body,
                )
        except IntegrityError:
            pass  # a concurrent request with the same key got in first; its answer stands
        raise
    return _replay(identity, request_hash)


def _replay(identity, request_hash):
    existing = IdempotencyKey.objects.get(**identity)
    if existing.request_hash != request_hash:
        raise UnprocessableEntity(
            "This Idempotency-Key was already used with a different request body.",
            code="idempotency_key_reused",
        )
    response = Response(existing.response_body, status=existing.response_status)
    response["Idempotent-Replayed"] = "true"
    return response
