"""The STK push life cycle: create → send → apply a result (callback or query) → reconcile.

Every state change of a push goes through ``stk_push_apply_result``: it locks the row, moves the
state machine, and calls the handler the owning app registered for the push's purpose, all in
one transaction. Apps register with ``register_purpose`` in their ``AppConfig.ready()``.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from functools import cache

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone
from kombu.exceptions import KombuError
from redis.exceptions import RedisError

from mpesa import outcomes
from mpesa.daraja import (
    NAIROBI,
    Credentials,
    DarajaClient,
    DarajaInvalidRequest,
    DarajaRejected,
    DarajaUnavailable,
    StkPushRequest,
)
from mpesa.models import StkPush
from mpesa.phone import mask_phone
from payme import metrics, publish, sql
from payme.errors import Conflict

logger = logging.getLogger(__name__)

Status = StkPush.Status
PROMPT_LOCK_NAMESPACE = 0x5041  # "PA": advisory-lock namespace for one-prompt-per-phone


# --- Registry (explicit, not signals) ---------------------------------------------------------


@dataclass(frozen=True)
class PurposeHooks:
    """``on_change(push, previous_status)`` runs inside the transaction that moved the push.
    ``credentials_for(push)`` returns (Credentials, passkey) for an STK query of that push."""

    on_change: Callable[[StkPush, str], None]
    credentials_for: Callable[[StkPush], tuple[Credentials, str]]


_registry: dict[str, PurposeHooks] = {}


def register_purpose(purpose: str, *, on_change, credentials_for) -> None:
    _registry[purpose] = PurposeHooks(on_change=on_change, credentials_for=credentials_for)


def hooks_for(purpose: str) -> PurposeHooks:
    try:
        return _registry[purpose]
    except KeyError:
        raise RuntimeError(f"No app registered STK purpose {purpose!r}") from None


# --- Errors the APIs render -------------------------------------------------------------------


class PromptInProgress(Conflict):
    code = "prompt_in_progress"
    default_message = "This phone already has an M-Pesa prompt waiting. Ask the customer to answer it, or try again in a minute."


# --- Result type ------------------------------------------------------------------------------


@dataclass
class PushResult:
    """A final (or pending) answer about one push, from a callback or a query."""

    result_code: str
    result_desc: str = ""
    checkout_request_id: str | None = None
    merchant_request_id: str | None = None
    receipt: str | None = None
    amount: Decimal | None = None
    phone: str | None = None
    transaction_date: datetime | None = None
    raw: dict | None = field(default=None, repr=False)
    daraja_error_code: str = ""

    @property
    def is_success(self) -> bool:
        return self.result_code == outcomes.SUCCESS


class ApplyOutcome:
    APPLIED = "applied"
    DUPLICATE = "duplicate"
    REVIEW = "review"
    IGNORED = "ignored"


# --- Create and send --------------------------------------------------------------------------


def new_callback_token() -> str:
    # 256 bits in hex: a url-safe base64 token can spell "exe", "cmd" or "sql", which Safaricom
    # forbids anywhere in a CallBackURL; hex digits cannot spell any of the forbidden words.
    return secrets.token_hex(32)


def callback_url_for(push: StkPush) -> str:
    return f"{settings.MPESA_CALLBACK_URL.rstrip('/')}/{push.callback_token}/"


def stk_push_assert_no_live_prompt(*, phone: str) -> None:
    """Daraja locks a subscriber while a prompt is live; refuse a second one early and clearly.

    Call it inside the transaction that creates the push. On PostgreSQL a transaction-scoped
    advisory lock per phone makes check-then-insert atomic (a concurrent second request waits,
    then sees the first push); SQLite transactions already BEGIN IMMEDIATE, one writer at a time.
    """
    if connection.vendor == "postgresql" and connection.in_atomic_block:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [PROMPT_LOCK_NAMESPACE, int(phone[3:])])
    since = StkPush._meta.get_field("created_at").get_db_prep_save(
        timezone.now() - timedelta(seconds=settings.MPESA_PROMPT_LOCK_SECONDS), connection
    )
    with connection.cursor() as cursor:
        cursor.execute(_live_prompt_sql(connection.vendor), [phone, *StkPush.OPEN_STATUSES, since])
        if cursor.fetchone() is not None:
            raise PromptInProgress()


@cache
def _live_prompt_sql(vendor: str) -> str:
    # Served by the (phone, status, created_at) index.
    table, phone, status, created = (sql.qn(n) for n in (StkPush._meta.db_table, "phone", "status", "created_at"))
    statuses = ", ".join(["%s"] * len(StkPush.OPEN_STATUSES))
    return f"SELECT 1 FROM {table} WHERE {phone} = %s AND {status} IN ({statuses}) AND {created} >= %s LIMIT 1"


def stk_push_create(
    *,
    business,
    purpose: str,
    shortcode: str,
    party_b: str,
    transaction_type: str,
    amount: int,
    phone: str,
    account_reference: str,
    description: str,
) -> StkPush:
    """Record a push before Daraja is called. Call it inside the domain's transaction.

    Raises PromptInProgress when the phone has a live prompt younger than the lock window.
    """
    stk_push_assert_no_live_prompt(phone=phone)
    metrics.payment_started(purpose)
    return sql.insert(StkPush(
        business=business,
        purpose=purpose,
        environment=settings.MPESA_ENV,
        shortcode=shortcode,
        party_b=party_b,
        transaction_type=transaction_type,
        amount=amount,
        phone=phone,
        account_reference=account_reference,
        description=description,
        callback_token=new_callback_token(),
    ))


def stk_push_enqueue(push: StkPush) -> None:
    """Have a worker send ``push`` once the caller's transaction commits (DESIGN.md, "Where work
    runs"). If the broker cannot take the message, the push stays ``created`` and the sweep
    enqueues it again: the database, not the broker, is the source of truth."""
    from mpesa.tasks import stk_push_send_task

    push_id = push.pk
    transaction.on_commit(lambda: _publish(stk_push_send_task, push_id))


def _publish(task, push_id: int) -> None:
    try:
        # One LPUSH of Celery's own message on the Redis broker (payme/publish.py); elsewhere delay().
        if not publish.publish(task, (push_id,)):
            task.delay(push_id)
    except (KombuError, RedisError, OSError) as exc:
        # The answer to the client stands (the rows are committed); the sweep or reconciliation
        # picks the push up from the database later.
        logger.error("Could not enqueue %s for push %s (%s); it is picked up later", task.name, push_id, type(exc).__name__)


def _in_real_transaction() -> bool:
    # Test cases wrap each test in atomic blocks marked _from_testcase; those are not ours.
    return any(not getattr(block, "_from_testcase", False) for block in connection.atomic_blocks)


def _raw_request(push: StkPush) -> dict:
    """What we send, without the Password (it is derived from the passkey)."""
    return {
        "BusinessShortCode": push.shortcode,
        "TransactionType": push.transaction_type,
        "Amount": push.amount,
        "PartyA": push.phone,
        "PartyB": push.party_b,
        "PhoneNumber": push.phone,
        "AccountReference": push.account_reference,
        "TransactionDesc": push.description,
    }


def _claim_for_send(push_id: int) -> StkPush | None:
    """``created`` → ``sending`` by a conditional UPDATE: of two deliveries of the same task, only
    one gets the push. A push recorded longer ago than MPESA_SEND_MAX_DELAY_SECONDS is not sent
    at all (the customer is long gone from the counter): it expires, and its handler releases
    what the sale held. Returns the claimed push, or None."""
    now = timezone.now()
    fresh_since = now - timedelta(seconds=settings.MPESA_SEND_MAX_DELAY_SECONDS)
    claimed = StkPush.objects.filter(pk=push_id, status=Status.CREATED, created_at__gte=fresh_since).update(
        status=Status.SENDING, sent_at=now, updated_at=now
    )
    if claimed:
        return sql.select_by(StkPush, id=push_id)
    stale = StkPush.objects.filter(pk=push_id, status=Status.CREATED, created_at__lt=fresh_since).exists()
    if stale:
        stk_push_apply_result(push_id=push_id, result=PushResult(outcomes.NOT_SENT, "Not sent within the send window"))
        logger.warning("STK push %s: not sent in time, expired without prompting", push_id)
    return None


def stk_push_send(*, push_id: int) -> StkPush | None:
    """The worker's half of starting a payment: claim the push, call Daraja once, record the answer.
    Never inside a DB transaction; never retried (a second POST can prompt the phone twice).

    Idempotent: a second call for the same push finds nothing to claim and returns None.
    Records, and returns the push as it stands:
    - ``pending``: Daraja accepted it; the callback or reconciliation settles it.
    - ``failed``: Daraja refused it (plain ``reason`` via the purpose's handler, ``daraja_error_code``);
      a refusal before Daraja (our own field rules, missing credentials) fails it the same way.
    - ``unknown``: no answer in time. Settled by its callback token or by STK query; never resent.
    """
    if _in_real_transaction():
        raise RuntimeError("stk_push_send must not run inside a database transaction")
    push = _claim_for_send(push_id)
    if push is None:
        return None
    try:
        credentials, passkey = hooks_for(push.purpose).credentials_for(push)
    except LookupError as exc:
        return _record_refusal(push, outcomes.INVALID_REQUEST, f"no credentials for this payment ({exc})")
    push.raw_request = _raw_request(push)
    sql.update(push, ["raw_request"])
    request = StkPushRequest(
        shortcode=push.shortcode,
        passkey=passkey,
        transaction_type=push.transaction_type,
        party_b=push.party_b,
        amount=push.amount,
        phone=push.phone,
        callback_url=callback_url_for(push),
        account_reference=push.account_reference,
        description=push.description,
    )
    client = DarajaClient(credentials=credentials, environment=push.environment)
    try:
        accepted = client.stk_push(request)
    except DarajaInvalidRequest as exc:
        return _record_refusal(push, outcomes.INVALID_REQUEST, f"{exc.field} {exc.message}")
    except DarajaRejected as exc:
        raw = exc.raw if isinstance(exc.raw, dict) else None
        return _record_refusal(push, exc.error_code, exc.error_message, daraja_error_code=exc.error_code, raw=raw)
    except DarajaUnavailable as exc:
        StkPush.objects.filter(pk=push.pk, status=Status.SENDING).update(
            status=Status.UNKNOWN, result_desc=exc.reason[:255], updated_at=timezone.now()
        )
        logger.warning("STK push %s: Daraja unavailable (%s); left unknown", push.public_id, exc.reason)
        return sql.select_by(StkPush, id=push.pk)

    with transaction.atomic():
        locked = _locked_push(push.pk)
        locked.checkout_request_id = locked.checkout_request_id or accepted.checkout_request_id
        locked.merchant_request_id = locked.merchant_request_id or accepted.merchant_request_id
        locked.customer_message = accepted.customer_message[:255]
        locked.raw_response = accepted.raw
        # A sweep may have called it unknown meanwhile; the answer settles that. A callback that
        # came first (fast customers do) already made it final: keep that.
        if locked.status in (Status.SENDING, Status.UNKNOWN):
            locked.status = Status.PENDING
        sql.update(locked, ["checkout_request_id", "merchant_request_id", "customer_message", "raw_response", "status"])
    logger.info("STK push %s sent purpose=%s phone=%s", push.public_id, push.purpose, mask_phone(push.phone), extra=_log_fields(locked))
    return locked


def _log_fields(push: StkPush, **more) -> dict:
    """The fields an operator filters on (DESIGN.md "Seeing what happens")."""
    return {"push_id": str(push.public_id), "purpose": push.purpose, "status": push.status,
            "result_code": push.result_code, "daraja_error_code": push.daraja_error_code, **more}


def _record_refusal(push: StkPush, code: str, message: str, *, daraja_error_code: str = "", raw=None) -> StkPush:
    """The push failed before it reached the customer: record why, run the purpose's handler
    (the sale releases its stock and token hold)."""
    stk_push_apply_result(push_id=push.pk, result=PushResult(code, message[:255], raw=raw, daraja_error_code=daraja_error_code))
    logger.info("STK push %s refused before the customer: %s %s", push.public_id, code, message[:120], extra=_log_fields(push))
    return sql.select_by(StkPush, id=push.pk)


def stk_push_sweep(*, now=None) -> dict:
    """What the worker tier left behind, found in the database (the broker is not the truth):

    - pushes still ``created`` after MPESA_SEND_SWEEP_AFTER_SECONDS lost their enqueue: enqueue
      them again (the claim makes a duplicate harmless; a stale one expires on claim);
    - pushes ``sending`` for longer than MPESA_SENDING_STALE_SECONDS were left by a worker that
      died mid-call: they become ``unknown`` — the prompt may have gone out, so they are never
      resent; the callback token or an STK query settles them.
    Returns counts. Safe to run concurrently."""
    from mpesa.tasks import stk_push_send_task

    now = now or timezone.now()
    lost = list(
        StkPush.objects.filter(status=Status.CREATED, created_at__lt=now - timedelta(seconds=settings.MPESA_SEND_SWEEP_AFTER_SECONDS))
        .order_by("created_at")
        .values_list("pk", flat=True)[:500]
    )
    for push_id in lost:
        stk_push_send_task.delay(push_id)
    abandoned = StkPush.objects.filter(
        status=Status.SENDING, sent_at__lt=now - timedelta(seconds=settings.MPESA_SENDING_STALE_SECONDS)
    ).update(status=Status.UNKNOWN, result_desc="The worker stopped while sending; settled by callback or query.", updated_at=now)
    if lost or abandoned:
        logger.warning("Sweep: re-enqueued %d unsent push(es), %d abandoned mid-send now unknown", len(lost), abandoned)
    return {"reenqueued": len(lost), "abandoned": abandoned}


def oldest_unsent_age_seconds(*, now=None) -> float | None:
    """How far the workers are behind: the age of the oldest push not yet sent (``/readyz``)."""
    oldest = StkPush.objects.filter(status=Status.CREATED).order_by("created_at").values_list("created_at", flat=True).first()
    if oldest is None:
        return None
    return max(0.0, ((now or timezone.now()) - oldest).total_seconds())


# --- Apply a result ---------------------------------------------------------------------------


def _mismatch(push: StkPush, result: PushResult) -> str | None:
    if result.amount is None or result.amount != Decimal(push.amount):
        return f"Amount paid ({result.amount}) differs from the amount requested ({push.amount})."
    if result.phone is None or str(result.phone) != push.phone:
        return "The paying phone differs from the phone that was prompted."
    return None


# What applying a result may change on the push row (saved with plain SQL: see payme/sql.py).
_RESULT_FIELDS = (
    "checkout_request_id", "merchant_request_id", "status", "mpesa_receipt", "transaction_date", "paid_amount",
    "paid_phone", "result_code", "result_desc", "daraja_error_code", "raw_callback", "completed_at", "review_reason",
)


def _locked_push(push_id: int) -> StkPush:
    push = sql.select_by(StkPush, id=push_id, for_update=True)
    if push is None:
        raise StkPush.DoesNotExist(f"No STK push {push_id}")
    return push


def stk_push_apply_result(*, push_id: int, result: PushResult, verify_details: bool = False, then=None) -> str:
    """Move a push to the state ``result`` implies, idempotently. Locks the push row.

    - A success after a failure, cancellation or expiry still wins (the money arrived).
    - A duplicate changes nothing. A failure never downgrades a success.
    - With ``verify_details`` (callbacks), a success whose amount or phone differs from the
      request goes to ``needs_review`` and credits nothing. A receipt already used by another
      push also goes to review.
    ``then(outcome)``, if given, runs in the same transaction (the callback view records the
    delivery's outcome with it: one commit instead of two). Returns an ApplyOutcome value.
    """
    with transaction.atomic():
        push = _locked_push(push_id)
        previous = push.status
        outcome = _apply_locked(push, result, verify_details)
        if then is not None:
            then(outcome)
        if outcome in (ApplyOutcome.APPLIED, ApplyOutcome.REVIEW):
            metrics.payment_finished(push)
    if outcome == ApplyOutcome.APPLIED:
        logger.info("Push %s: %s -> %s (code %s)", push.public_id, previous, push.status, push.result_code,
                    extra=_log_fields(push, from_status=previous))
    return outcome


def _apply_locked(push: StkPush, result: PushResult, verify_details: bool) -> str:
    previous = push.status
    now = timezone.now()
    if result.checkout_request_id and not push.checkout_request_id:
        push.checkout_request_id = result.checkout_request_id
    if result.merchant_request_id and not push.merchant_request_id:
        push.merchant_request_id = result.merchant_request_id

    if result.is_success:
        if previous == Status.NEEDS_REVIEW:
            return ApplyOutcome.IGNORED
        if verify_details:
            problem = _mismatch(push, result)
            if problem:
                if previous == Status.SUCCEEDED:
                    logger.warning("Push %s: mismatching duplicate success ignored", push.public_id)
                    return ApplyOutcome.IGNORED
                return _to_review(push, previous, result, problem, now)
        if previous == Status.SUCCEEDED:
            if result.receipt and not push.mpesa_receipt and not _receipt_taken(push, result.receipt):
                # A query settled it first (an STK query carries no receipt); the callback brings
                # it, and the purpose's record takes it too: on_change(push, "succeeded").
                push.mpesa_receipt = result.receipt
                push.transaction_date = result.transaction_date or push.transaction_date
                push.raw_callback = result.raw or push.raw_callback
                sql.update(push, _RESULT_FIELDS)
                hooks_for(push.purpose).on_change(push, previous)
            return ApplyOutcome.DUPLICATE
        if result.receipt and _receipt_taken(push, result.receipt):
            return _to_review(push, previous, result, "This M-Pesa receipt was already applied to another payment.", now)
        push.status = Status.SUCCEEDED
        push.mpesa_receipt = result.receipt or None
        push.transaction_date = result.transaction_date
        push.paid_amount = result.amount
        push.paid_phone = result.phone or ""
    else:
        new_status = outcomes.status_for(result.result_code)
        if previous not in StkPush.OPEN_STATUSES:
            return ApplyOutcome.DUPLICATE if previous == new_status else ApplyOutcome.IGNORED
        push.status = new_status

    push.result_code = result.result_code[:32]
    push.result_desc = (result.result_desc or "")[:255]
    push.daraja_error_code = result.daraja_error_code[:32]
    if result.raw is not None:
        push.raw_callback = result.raw
    push.completed_at = now
    sql.update(push, _RESULT_FIELDS)
    hooks_for(push.purpose).on_change(push, previous)
    return ApplyOutcome.APPLIED


@cache
def _receipt_taken_sql(vendor: str) -> str:
    table, receipt, pk = sql.qn(StkPush._meta.db_table), sql.qn("mpesa_receipt"), sql.qn("id")
    return f"SELECT 1 FROM {table} WHERE {receipt} = %s AND {pk} <> %s LIMIT 1"


def _receipt_taken(push: StkPush, receipt: str) -> bool:
    with connection.cursor() as cursor:
        cursor.execute(_receipt_taken_sql(connection.vendor), [receipt, push.pk])
        return cursor.fetchone() is not None


def _to_review(push, previous, result, reason, now) -> str:
    push.status = Status.NEEDS_REVIEW
    push.review_reason = reason[:255]
    push.result_code = result.result_code[:32]
    push.result_desc = (result.result_desc or "")[:255]
    push.paid_amount = result.amount
    push.paid_phone = result.phone or ""
    push.raw_callback = result.raw
    push.completed_at = now
    sql.update(push, _RESULT_FIELDS)
    hooks_for(push.purpose).on_change(push, previous)
    logger.warning("Push %s sent to review: %s", push.public_id, reason)
    return ApplyOutcome.REVIEW


def stk_push_mark_review(*, push_id: int, reason: str) -> str:
    """A contradicting confirmation: park the push for a human. Never downgrades a success."""
    with transaction.atomic():
        push = _locked_push(push_id)
        if push.status not in StkPush.OPEN_STATUSES:
            return ApplyOutcome.IGNORED
        return _to_review(push, push.status, PushResult("review", reason), reason, timezone.now())


# --- Query and reconciliation -----------------------------------------------------------------


def stk_push_query(*, push: StkPush):
    """Ask Daraja about a push (outside any transaction). Returns StkQueryResult or raises
    DarajaRejected / DarajaUnavailable."""
    credentials, passkey = hooks_for(push.purpose).credentials_for(push)
    client = DarajaClient(credentials=credentials, environment=push.environment)
    return client.stk_query(shortcode=push.shortcode, passkey=passkey, checkout_request_id=push.checkout_request_id)


def _claim_for_query(push: StkPush, now) -> bool:
    """Conditional update so concurrent reconcilers never query the same push: the claim only
    succeeds if nobody queried it within MPESA_QUERY_INTERVAL_SECONDS (Daraja also throttles
    eager polling with spike arrests, so this is the polling pace too)."""
    cutoff = now - timedelta(seconds=settings.MPESA_QUERY_INTERVAL_SECONDS)
    due = Q(last_queried_at__isnull=True) | Q(last_queried_at__lt=cutoff)
    return bool(StkPush.objects.filter(due, pk=push.pk).update(last_queried_at=now))


def stk_push_reconcile(*, older_than_seconds: int | None = None, expire_after_seconds: int | None = None, limit: int = 500) -> dict:
    """Resolve pushes still open after ``older_than_seconds`` with an STK query, through the same
    apply function; expire those older than ``expire_after_seconds``. Safe to run concurrently.
    Returns counts of what it did."""
    older_than = settings.MPESA_RECONCILE_AFTER_SECONDS if older_than_seconds is None else older_than_seconds
    expire_after = settings.MPESA_PENDING_EXPIRY_SECONDS if expire_after_seconds is None else expire_after_seconds
    now = timezone.now()
    counts = {"checked": 0, "resolved": 0, "still_pending": 0, "expired": 0, "errors": 0, "skipped": 0}
    candidates = list(
        StkPush.objects.filter(status__in=StkPush.OPEN_STATUSES, created_at__lte=now - timedelta(seconds=older_than))
        .order_by("created_at")[:limit]
    )
    for push in candidates:
        if not _claim_for_query(push, now):
            counts["skipped"] += 1
            continue
        counts["checked"] += 1
        age = (now - push.created_at).total_seconds()
        if push.checkout_request_id:
            try:
                answer = stk_push_query(push=push)
            except (DarajaRejected, DarajaUnavailable) as exc:
                counts["errors"] += 1
                logger.warning("Reconcile %s: query failed (%s)", push.public_id, exc)
            else:
                if not answer.pending:
                    outcome = _apply_query_answer(push, answer)
                    if outcome != ApplyOutcome.IGNORED:
                        counts["resolved"] += 1
                    continue
        if age >= expire_after:
            outcome = stk_push_apply_result(
                push_id=push.pk,
                result=PushResult(outcomes.EXPIRED_BY_US, "No final answer within the expiry window"),
            )
            if outcome == ApplyOutcome.APPLIED:
                counts["expired"] += 1
        else:
            counts["still_pending"] += 1
    metrics.reconciled(counts)
    return counts


def stk_push_enqueue_confirmation(push: StkPush) -> None:
    """With MPESA_CONFIRM_CALLBACKS, a worker confirms a success callback by STK query once the
    delivery is committed (the callback view never calls Daraja)."""
    from mpesa.tasks import stk_push_confirm_task

    push_id = push.pk
    transaction.on_commit(lambda: _publish(stk_push_confirm_task, push_id))


def stk_push_confirm(*, push_id: int) -> str:
    """Worker: STK-query a push whose success callback was left pending for confirmation, then
    apply the stored callback (with its receipt) if Daraja agrees, or park it for review if Daraja
    says otherwise. "Still processing", or no answer, leaves it to reconciliation, which applies the
    stored callback the same way. Returns an ApplyOutcome value, or "pending"."""
    push = sql.select_by(StkPush, id=push_id)
    if push is None or push.status not in StkPush.OPEN_STATUSES or not push.checkout_request_id:
        return ApplyOutcome.IGNORED
    try:
        answer = stk_push_query(push=push)
    except (DarajaRejected, DarajaUnavailable) as exc:
        logger.warning("Confirmation query for %s failed (%s); reconciliation will retry", push.public_id, exc)
        return "pending"
    if answer.pending:
        return "pending"
    if answer.result_code != outcomes.SUCCESS:
        return stk_push_mark_review(push_id=push.pk, reason=f"Callback said paid; STK query said {answer.result_code}.")
    return _apply_query_answer(push, answer)


def _apply_query_answer(push: StkPush, answer) -> str:
    """A query only says the code. On success, prefer a stored callback (it has the receipt)."""
    if answer.result_code == outcomes.SUCCESS:
        stored = _stored_success_callback(push)
        if stored is not None:
            return stk_push_apply_result(push_id=push.pk, result=stored, verify_details=True)
    return stk_push_apply_result(
        push_id=push.pk, result=PushResult(answer.result_code, answer.result_desc, raw=None)
    )


def _stored_success_callback(push: StkPush) -> PushResult | None:
    import json

    from mpesa.callbacks import MalformedCallback, parse_callback

    for delivery in push.deliveries.filter(outcome="left_pending").order_by("-received_at")[:3]:
        try:
            result = parse_callback(json.loads(delivery.body))
        except (MalformedCallback, ValueError):
            continue
        if result.is_success:
            return result
    return None


def parse_transaction_date(value) -> datetime | None:
    """Daraja sends 20191219102115 (a number, EAT). Returns an aware datetime or None."""
    text = str(value) if value is not None else ""
    if len(text) != 14 or not text.isdigit():
        return None
    try:
        return datetime.strptime(text, "%Y%m%d%H%M%S").replace(tzinfo=NAIROBI)
    except ValueError:
        return None


def to_decimal(value) -> Decimal | None:
    if isinstance(value, bool) or value is None:
        return None
    try:
        amount = Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None
    return amount if amount.is_finite() else None
