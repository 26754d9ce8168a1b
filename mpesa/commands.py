"""The life cycle of result-URL commands (B2C, reversal, transaction status, account balance):
record → send (worker, claim-then-send) → apply the result (callback or Transaction Status).

Every state change goes through ``daraja_command_apply_result``: it locks the row, moves the state
machine, and calls the handler the owning app registered for the command's purpose, in one
transaction. Apps register with ``register_command_purpose`` in their ``AppConfig.ready()``.
Money-moving POSTs (B2C, reversal) are never resent: no answer means ``unknown``, and
``500.002.1001`` means Daraja already has the request; both are settled by Transaction Status.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from kombu.exceptions import KombuError
from redis.exceptions import RedisError

from mpesa import outcomes
from mpesa.daraja import (
    NAIROBI,
    CommandAccepted,
    Credentials,
    DarajaClient,
    DarajaInvalidRequest,
    DarajaRejected,
    DarajaUnavailable,
    Initiator,
)
from mpesa.models import DarajaCommand
from mpesa.phone import mask_phone
from mpesa.services import _in_real_transaction, new_callback_token, to_decimal
from payme import sql

logger = logging.getLogger(__name__)

Status = DarajaCommand.Status
Kind = DarajaCommand.Kind
TIMEOUT_SUFFIX = "-qt"  # the QueueTimeOutURL is the Result URL's token plus this suffix
# Transaction Status pace per command, and how many answers that settle nothing before a human
# looks (a B2C that Daraja never saw is "unknown" to status forever; its money must not stay held).
STATUS_QUERY_INTERVAL_SECONDS = 60
MAX_STATUS_QUERIES = 10


# --- Registry ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class CommandHooks:
    """``on_change(command, previous_status)`` runs inside the transaction that moved a B2C,
    reversal or balance command. ``initiator_for(command)`` returns (Credentials, Initiator);
    it raises LookupError when the business has no usable config."""

    on_change: Callable[[DarajaCommand, str], None]
    initiator_for: Callable[[DarajaCommand], tuple[Credentials, Initiator]]


_registry: dict[str, CommandHooks] = {}


def register_command_purpose(purpose: str, *, on_change, initiator_for) -> None:
    _registry[purpose] = CommandHooks(on_change=on_change, initiator_for=initiator_for)


def command_hooks_for(purpose: str) -> CommandHooks:
    try:
        return _registry[purpose]
    except KeyError:
        raise RuntimeError(f"No app registered command purpose {purpose!r}") from None


# --- Results ----------------------------------------------------------------------------------


class MalformedResult(ValueError):
    pass


@dataclass
class CommandResult:
    """A final (or queue-timeout) answer about one command."""

    result_code: str
    result_desc: str = ""
    originator_conversation_id: str | None = None
    conversation_id: str | None = None
    transaction_id: str | None = None
    parameters: dict = field(default_factory=dict)
    raw: dict | None = field(default=None, repr=False)
    queue_timeout: bool = False
    daraja_error_code: str = ""

    @property
    def is_success(self) -> bool:
        return self.result_code == outcomes.SUCCESS and not self.queue_timeout


def _parameters(container, list_key: str) -> dict:
    """``{"ResultParameter": [{"Key", "Value"}…]}`` or one object instead of a list (REFERENCE.md
    15), read by Key (never by position). A Key without a Value maps to None."""
    if not isinstance(container, dict):
        return {}
    items = container.get(list_key)
    if isinstance(items, dict):
        items = [items]
    if not isinstance(items, list):
        return {}
    values = {}
    for item in items:
        if isinstance(item, dict) and isinstance(item.get("Key"), str):
            values[item["Key"]] = item.get("Value")
    return values


def parse_result(body, *, queue_timeout: bool = False) -> CommandResult:
    """``{"Result": {...}}`` → CommandResult. ResultCode int / string / zero-padded is normalised.
    Raises MalformedResult."""
    if not isinstance(body, dict) or not isinstance(body.get("Result"), dict):
        raise MalformedResult("Result is missing")
    result = body["Result"]
    code = outcomes.normalise_result_code(result.get("ResultCode"))
    if not code:
        raise MalformedResult("ResultCode is missing")
    desc = result.get("ResultDesc")

    def text(name, limit=64):
        value = result.get(name)
        if isinstance(value, bool) or not isinstance(value, (str, int)):
            return None
        return str(value).strip()[:limit] or None

    return CommandResult(
        result_code=code,
        result_desc=str(desc)[:255] if isinstance(desc, (str, int)) and not isinstance(desc, bool) else "",
        originator_conversation_id=text("OriginatorConversationID"),
        conversation_id=text("ConversationID"),
        transaction_id=text("TransactionID", 32),
        parameters=_parameters(result.get("ResultParameters"), "ResultParameter"),
        raw=body,
        queue_timeout=queue_timeout,
    )


def parse_completed_time(value) -> datetime | None:
    """``TransactionCompletedDateTime`` is ``dd.MM.yyyy HH:mm:ss`` in EAT; TransCompletedTime and
    BOCompletedTime are ``yyyyMMddHHmmss`` numbers. Returns an aware datetime or None."""
    text = str(value).strip() if value is not None else ""
    for fmt in ("%d.%m.%Y %H:%M:%S", "%Y%m%d%H%M%S"):
        try:
            return datetime.strptime(text, fmt).replace(tzinfo=NAIROBI)
        except ValueError:
            continue
    return None


def split_public_name(value) -> tuple[str, str]:
    """``"254708374149 - JOHN DOE"`` → (phone, name). Either part may be empty."""
    text = str(value or "").strip()
    if " - " in text:
        number, name = text.split(" - ", 1)
        return number.strip(), name.strip()
    return ("", text) if not text.isdigit() else (text, "")


def parse_account_balance(value) -> dict[str, Decimal]:
    """``AccountBalance``: ``Name|KES|amount|amount|0.00|0.00`` joined by ``&`` → {name: available}."""
    balances = {}
    for account in str(value or "").split("&"):
        parts = account.split("|")
        if len(parts) >= 3:
            amount = to_decimal(parts[2])
            if amount is not None:
                balances[parts[0].strip()] = amount
    return balances


# --- Create and send --------------------------------------------------------------------------


def new_originator_id() -> str:
    return f"PAYME-{uuid.uuid4().hex}"


def result_url_for(command: DarajaCommand) -> str:
    return f"{settings.MPESA_CALLBACK_URL.rstrip('/')}/{command.callback_token}/"


def timeout_url_for(command: DarajaCommand) -> str:
    return f"{settings.MPESA_CALLBACK_URL.rstrip('/')}/{command.callback_token}{TIMEOUT_SUFFIX}/"


def daraja_command_create(
    *,
    business,
    kind: str,
    purpose: str,
    shortcode: str,
    command_id: str,
    amount: int | None = None,
    phone: str = "",
    transaction_id: str = "",
    remarks: str = "",
    parent: DarajaCommand | None = None,
    originator_conversation_id: str | None = None,
) -> DarajaCommand:
    """Record a command before Daraja is called (with a unique OriginatorConversationID: the
    caller's, when it recorded one already). Call it inside the domain's transaction, then
    ``daraja_command_enqueue``."""
    return DarajaCommand.objects.create(
        business=business,
        kind=kind,
        purpose=purpose,
        parent=parent,
        environment=settings.MPESA_ENV,
        shortcode=shortcode,
        command_id=command_id,
        amount=amount,
        phone=phone,
        transaction_id=transaction_id,
        remarks=remarks[:100],
        originator_conversation_id=originator_conversation_id or new_originator_id(),
        callback_token=new_callback_token(),
    )


def daraja_command_enqueue(command: DarajaCommand) -> None:
    """Have a worker send ``command`` once the caller's transaction commits. A lost enqueue is
    found by the sweep (the command stays ``created``)."""
    command_id = command.pk
    transaction.on_commit(lambda: _publish_send(command_id))


def _publish_send(command_id: int) -> None:
    from mpesa.tasks import daraja_command_send_task

    try:
        daraja_command_send_task.delay(command_id)
    except (KombuError, RedisError, OSError) as exc:
        logger.error("Could not enqueue Daraja command %s (%s); the sweep will send it", command_id, type(exc).__name__)


def _hooks(command: DarajaCommand) -> CommandHooks:
    # A status query uses the credentials of the command it asks about.
    return command_hooks_for(command.parent.purpose if command.parent_id else command.purpose)


def _claim_for_send(command_id: int) -> DarajaCommand | None:
    now = timezone.now()
    claimed = DarajaCommand.objects.filter(pk=command_id, status=Status.CREATED).update(
        status=Status.SENDING, sent_at=now, updated_at=now
    )
    return DarajaCommand.objects.select_related("parent").get(pk=command_id) if claimed else None


def _raw_request(command: DarajaCommand, initiator: Initiator) -> dict:
    """What we send, without the SecurityCredential."""
    body = {"CommandID": command.command_id, "Initiator": initiator.name, "PartyA": command.shortcode}
    if command.kind == Kind.B2C:
        body.update(OriginatorConversationID=command.originator_conversation_id, Amount=command.amount,
                    PartyB=command.phone, Remarks=command.remarks)
    elif command.kind == Kind.REVERSAL:
        body.update(TransactionID=command.transaction_id, Amount=command.amount, Remarks=command.remarks)
    elif command.kind == Kind.TRANSACTION_STATUS:
        if command.transaction_id:
            body["TransactionID"] = command.transaction_id
        else:
            body["OriginalConversationID"] = command.parent.originator_conversation_id
    return body


def _call(client: DarajaClient, command: DarajaCommand, initiator: Initiator) -> CommandAccepted:
    urls = {"result_url": result_url_for(command), "timeout_url": timeout_url_for(command)}
    if command.kind == Kind.B2C:
        return client.b2c_payment(
            initiator=initiator, originator_conversation_id=command.originator_conversation_id,
            command_id=command.command_id, amount=command.amount, phone=command.phone,
            remarks=command.remarks or "Payment", **urls,
        )
    if command.kind == Kind.REVERSAL:
        return client.reversal(
            initiator=initiator, transaction_id=command.transaction_id, amount=command.amount,
            remarks=command.remarks or "Refund", **urls,
        )
    if command.kind == Kind.TRANSACTION_STATUS:
        if command.transaction_id:
            return client.transaction_status(initiator=initiator, transaction_id=command.transaction_id, **urls)
        return client.transaction_status(
            initiator=initiator, original_conversation_id=command.parent.originator_conversation_id, **urls
        )
    return client.account_balance(initiator=initiator, **urls)


def daraja_command_send(*, command_id: int) -> DarajaCommand | None:
    """The worker's half: claim (``created`` → ``sending``), call Daraja once, record the answer.
    Never inside a DB transaction; never retried. Idempotent: a second call finds nothing to claim.

    - ``accepted``: Daraja took it (also on ``500.002.1001``: it already had it); the result comes.
    - ``failed``: refused before any money could move (our field rules, missing config, Daraja's
      error envelope), with the reason through the purpose's handler.
    - ``unknown``: no answer in time; settled by its result or Transaction Status, never resent.
    """
    if _in_real_transaction():
        raise RuntimeError("daraja_command_send must not run inside a database transaction")
    command = _claim_for_send(command_id)
    if command is None:
        return None
    try:
        credentials, initiator = _hooks(command).initiator_for(command)
    except LookupError as exc:
        return _refuse(command, outcomes.INVALID_REQUEST, f"no payout config for this request ({exc})")
    command.raw_request = _raw_request(command, initiator)
    sql.update(command, ["raw_request"])
    client = DarajaClient(credentials=credentials, environment=command.environment)
    try:
        accepted = _call(client, command, initiator)
    except DarajaInvalidRequest as exc:
        return _refuse(command, outcomes.INVALID_REQUEST, f"{exc.field} {exc.message}")
    except DarajaRejected as exc:
        return _refuse(command, exc.error_code, exc.error_message, daraja_error_code=exc.error_code,
                       raw=exc.raw if isinstance(exc.raw, dict) else None)
    except DarajaUnavailable as exc:
        DarajaCommand.objects.filter(pk=command.pk, status=Status.SENDING).update(
            status=Status.UNKNOWN, result_desc=exc.reason[:255], updated_at=timezone.now()
        )
        logger.warning("Daraja command %s: Daraja unavailable (%s); left unknown", command.public_id, exc.reason)
        return DarajaCommand.objects.get(pk=command.pk)

    with transaction.atomic():
        locked = _locked(command.pk)
        if accepted.conversation_id:
            locked.conversation_id = locked.conversation_id or accepted.conversation_id[:64]
        locked.raw_response = accepted.raw
        if accepted.duplicate:
            locked.daraja_error_code = accepted.response_code[:32]
            locked.result_desc = outcomes.command_reason_for(accepted.response_code)[:255]
        if locked.status in (Status.SENDING, Status.UNKNOWN):
            locked.status = Status.ACCEPTED
        # Daraja generates its own originator id for everything but B2C v3: it stays in
        # raw_response; results are matched on the ConversationID it acknowledged.
        locked.save(update_fields=["conversation_id", "raw_response", "daraja_error_code",
                                   "result_desc", "status", "updated_at"])
    logger.info("Daraja command %s accepted kind=%s phone=%s", command.public_id, command.kind, mask_phone(command.phone or ""))
    return locked


def _refuse(command, code, message, *, daraja_error_code="", raw=None) -> DarajaCommand:
    daraja_command_apply_result(
        command_id=command.pk,
        result=CommandResult(code, message[:255], raw=raw, daraja_error_code=daraja_error_code),
        verify_details=False,
    )
    logger.info("Daraja command %s refused before sending: %s", command.public_id, code)
    return DarajaCommand.objects.get(pk=command.pk)


# --- Apply a result ---------------------------------------------------------------------------


class ApplyOutcome:
    APPLIED = "applied"
    DUPLICATE = "duplicate"
    REVIEW = "review"
    IGNORED = "ignored"
    LEFT_OPEN = "left_open"


def _locked(command_id: int) -> DarajaCommand:
    return DarajaCommand.objects.select_for_update().get(pk=command_id)


def _mismatch(command: DarajaCommand, result: CommandResult) -> str | None:
    """Does a result belong to this command and say what we asked? (Daraja signs nothing.)"""
    if command.kind == Kind.B2C and result.originator_conversation_id:
        if result.originator_conversation_id != command.originator_conversation_id:
            return "The result's OriginatorConversationID differs from the payout's."
    if command.conversation_id and result.conversation_id and result.conversation_id != command.conversation_id:
        return "The result's ConversationID differs from the one Daraja acknowledged."
    if not result.is_success:
        return None
    params = result.parameters
    if command.kind == Kind.B2C:
        amount = to_decimal(params.get("TransactionAmount"))
        if amount is None or amount != Decimal(command.amount):
            return f"Amount paid out ({amount}) differs from the amount requested ({command.amount})."
        number, _ = split_public_name(params.get("ReceiverPartyPublicName"))
        if number.isdigit() and number != command.phone:
            return "The receiving phone differs from the phone requested."
    elif command.kind == Kind.REVERSAL:
        amount = to_decimal(params.get("Amount"))
        if amount is not None and amount != Decimal(command.amount):
            return f"Amount reversed ({amount}) differs from the amount requested ({command.amount})."
        original = params.get("OriginalTransactionID")
        if original is not None and str(original) != command.transaction_id:
            return "The reversed receipt differs from the one requested."
    return None


def _settle_success(command: DarajaCommand, result: CommandResult) -> None:
    params = result.parameters
    if command.kind == Kind.B2C:
        command.receipt = str(params.get("TransactionReceipt") or result.transaction_id or "")[:32]
        command.recipient_name = split_public_name(params.get("ReceiverPartyPublicName"))[1][:120]
        command.completed_at_daraja = parse_completed_time(params.get("TransactionCompletedDateTime"))
    elif command.kind == Kind.REVERSAL:
        command.receipt = str(result.transaction_id or "")[:32]
        command.recipient_name = split_public_name(params.get("CreditPartyPublicName"))[1][:120]
        command.completed_at_daraja = parse_completed_time(params.get("TransCompletedTime"))
    elif command.kind == Kind.ACCOUNT_BALANCE:
        command.completed_at_daraja = parse_completed_time(params.get("BOCompletedTime"))
    else:
        command.receipt = str(params.get("ReceiptNo") or result.transaction_id or "")[:32]


def daraja_command_apply_result(*, command_id: int, result: CommandResult, verify_details: bool = True) -> str:
    """Move a command to the state ``result`` implies, idempotently. Locks the command row.

    - A queue-timeout notice is not a failure: an open command becomes ``unknown`` (Transaction
      Status settles it) and nothing else changes.
    - A result that does not match the command goes to ``needs_review`` and moves no money.
    - A duplicate changes nothing; a final command is never changed by a different answer
      (a success after a failure goes to review).
    Returns an ApplyOutcome value. The status query of a command settles its parent afterwards.
    """
    with transaction.atomic():
        command = _locked(command_id)
        outcome, previous = _apply_locked(command, result, verify_details)
    if outcome == ApplyOutcome.APPLIED:
        logger.info("Daraja command %s: %s -> %s (code %s)", command.public_id, previous, command.status, command.result_code)
        if command.kind == Kind.TRANSACTION_STATUS and command.parent_id:
            _settle_parent_from_status(command)
    return outcome


_RESULT_FIELDS = [
    "status", "result_code", "result_desc", "daraja_error_code", "receipt", "recipient_name", "completed_at_daraja",
    "result_parameters", "raw_result", "completed_at", "review_reason", "updated_at",
]


def _apply_locked(command: DarajaCommand, result: CommandResult, verify_details: bool) -> tuple[str, str]:
    previous = command.status
    now = timezone.now()
    if result.queue_timeout:
        if previous not in DarajaCommand.OPEN_STATUSES:
            return ApplyOutcome.IGNORED, previous
        command.status = Status.UNKNOWN
        command.result_desc = outcomes.command_reason_for(outcomes.QUEUE_TIMEOUT)[:255]
        command.raw_result = result.raw
        command.save(update_fields=["status", "result_desc", "raw_result", "updated_at"])
        return ApplyOutcome.LEFT_OPEN, previous

    new_status = Status.SUCCEEDED if result.is_success else Status.FAILED
    if previous in DarajaCommand.FINAL_STATUSES:
        if previous == new_status and (not result.is_success or not command.receipt
                                       or command.receipt == _result_receipt(command, result)):
            return ApplyOutcome.DUPLICATE, previous
        if previous == Status.FAILED and result.is_success and not command.daraja_error_code:
            reason = "Daraja reported a success after a failure for the same request."
            return _to_review(command, result, reason, now), previous
        return ApplyOutcome.IGNORED, previous

    problem = _mismatch(command, result) if verify_details else None
    if problem:
        return _to_review(command, result, problem, now), previous

    command.status = new_status
    command.result_code = result.result_code[:32]
    command.result_desc = (result.result_desc or "")[:255]
    command.daraja_error_code = result.daraja_error_code[:32] or command.daraja_error_code
    command.result_parameters = result.parameters or None
    command.raw_result = result.raw
    command.completed_at = now
    if result.is_success:
        _settle_success(command, result)
    command.save(update_fields=_RESULT_FIELDS)
    if command.kind != Kind.TRANSACTION_STATUS:
        command_hooks_for(command.purpose).on_change(command, previous)
    return ApplyOutcome.APPLIED, previous


def _result_receipt(command, result) -> str:
    probe = DarajaCommand(kind=command.kind)
    _settle_success(probe, result)
    return probe.receipt


def _to_review(command: DarajaCommand, result: CommandResult, reason: str, now) -> str:
    previous = command.status
    command.status = Status.NEEDS_REVIEW
    command.review_reason = reason[:255]
    command.result_code = result.result_code[:32]
    command.result_desc = (result.result_desc or "")[:255]
    command.result_parameters = result.parameters or None
    command.raw_result = result.raw
    command.completed_at = now
    command.save(update_fields=_RESULT_FIELDS)
    if command.kind != Kind.TRANSACTION_STATUS:
        command_hooks_for(command.purpose).on_change(command, previous)
    logger.warning("Daraja command %s sent to review: %s", command.public_id, reason)
    return ApplyOutcome.REVIEW


def _settle_parent_from_status(query: DarajaCommand) -> None:
    """Translate a Transaction Status answer into a result for the command it asked about.
    "Completed" settles a B2C as paid (with its receipt); "Reversed" settles a reversal. Any
    other answer (unknown transaction, still processing) leaves the parent open."""
    parent = DarajaCommand.objects.get(pk=query.parent_id)
    if query.status != Status.SUCCEEDED or not parent.is_open:
        return
    params = query.result_parameters or {}
    state = str(params.get("TransactionStatus") or "")
    if parent.kind == Kind.B2C and state == "Completed":
        result = CommandResult(
            result_code=outcomes.SUCCESS,
            result_desc="Settled by Transaction Status",
            transaction_id=str(params.get("ReceiptNo") or query.receipt or ""),
            parameters={
                "TransactionAmount": params.get("Amount"),
                "TransactionReceipt": params.get("ReceiptNo") or query.receipt,
                "ReceiverPartyPublicName": params.get("CreditPartyName"),
                "TransactionCompletedDateTime": params.get("FinalisedTime"),
            },
            raw=query.raw_result,
        )
    elif parent.kind == Kind.REVERSAL and state == "Reversed":
        result = CommandResult(result_code=outcomes.SUCCESS, result_desc="Settled by Transaction Status",
                               parameters={"Amount": params.get("Amount")}, raw=query.raw_result)
    else:
        return
    daraja_command_apply_result(command_id=parent.pk, result=result, verify_details=True)


# --- Sweep and reconciliation -----------------------------------------------------------------


def daraja_command_sweep(*, now=None) -> dict:
    """Commands still ``created`` after MPESA_SEND_SWEEP_AFTER_SECONDS lost their enqueue: enqueue
    again (the claim makes duplicates harmless). Commands ``sending`` for longer than
    MPESA_SENDING_STALE_SECONDS were left by a worker that died mid-call: ``unknown`` — the money
    may have moved, so they are never resent; Transaction Status settles them."""
    from mpesa.tasks import daraja_command_send_task

    now = now or timezone.now()
    lost = list(
        DarajaCommand.objects.filter(status=Status.CREATED, created_at__lt=now - timedelta(seconds=settings.MPESA_SEND_SWEEP_AFTER_SECONDS))
        .order_by("created_at").values_list("pk", flat=True)[:500]
    )
    for command_id in lost:
        daraja_command_send_task.delay(command_id)
    abandoned = DarajaCommand.objects.filter(
        status=Status.SENDING, sent_at__lt=now - timedelta(seconds=settings.MPESA_SENDING_STALE_SECONDS)
    ).update(status=Status.UNKNOWN, result_desc="The worker stopped while sending; settled by Transaction Status.", updated_at=now)
    return {"reenqueued": len(lost), "abandoned": abandoned}


def daraja_command_reconcile(*, older_than_seconds: int | None = None, limit: int = 200) -> dict:
    """Ask Transaction Status about money-moving commands that are ``unknown``, or ``accepted``
    with no result after ``older_than_seconds``: one status query per command per
    MPESA_QUERY_INTERVAL_SECONDS (claimed by conditional UPDATE, so concurrent runs never both
    ask). The query's result, on its own token, settles the command. After MAX_STATUS_QUERIES that
    settled nothing the command goes to ``needs_review``. Safe to run concurrently."""
    older_than = settings.MPESA_COMMAND_RECONCILE_AFTER_SECONDS if older_than_seconds is None else older_than_seconds
    now = timezone.now()
    stale = Q(status=Status.UNKNOWN) | Q(status=Status.ACCEPTED, sent_at__lte=now - timedelta(seconds=older_than))
    candidates = list(
        DarajaCommand.objects.filter(stale, kind__in=(Kind.B2C, Kind.REVERSAL)).order_by("created_at")[:limit]
    )
    counts = {"queried": 0, "skipped": 0, "review": 0}
    cutoff = now - timedelta(seconds=max(settings.MPESA_QUERY_INTERVAL_SECONDS, STATUS_QUERY_INTERVAL_SECONDS))
    for command in candidates:
        due = Q(last_queried_at__isnull=True) | Q(last_queried_at__lt=cutoff)
        if not DarajaCommand.objects.filter(due, pk=command.pk).update(last_queried_at=now):
            counts["skipped"] += 1
            continue
        if command.status_queries.count() >= MAX_STATUS_QUERIES:
            with transaction.atomic():
                locked = _locked(command.pk)
                if locked.is_open:
                    _to_review(locked, CommandResult("review", "No result"), (
                        f"No result after {MAX_STATUS_QUERIES} Transaction Status queries; check the M-Pesa portal."), now)
                    counts["review"] += 1
            continue
        query = _create_status_query(command)
        daraja_command_send(command_id=query.pk)
        counts["queried"] += 1
    return counts


def _create_status_query(command: DarajaCommand) -> DarajaCommand:
    # A reversal is found by the receipt it reverses; a B2C by our OriginatorConversationID.
    return DarajaCommand.objects.create(
        business_id=command.business_id,
        kind=Kind.TRANSACTION_STATUS,
        purpose=command.purpose,
        parent=command,
        environment=command.environment,
        shortcode=command.shortcode,
        command_id="TransactionStatusQuery",
        transaction_id=command.transaction_id if command.kind == Kind.REVERSAL else "",
        remarks="Reconciliation",
        originator_conversation_id=new_originator_id(),
        callback_token=new_callback_token(),
    )
