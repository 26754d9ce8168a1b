"""Money out of the business's own B2C account: the payout config, payouts, refunds, approvals
and limits. Every write is here, in one short transaction; Daraja is only ever called by a worker
(mpesa.commands), after the transaction that recorded the payout commits.

Locks: a request takes sale → payout day; a result takes command → payout → sale. Neither path
takes them the other way round, so they cannot deadlock.
Audit rows and events (issue #17) are written inside these same transactions.
"""

from __future__ import annotations

from datetime import date

from django.db import IntegrityError, transaction
from django.db.models import Sum
from django.utils import timezone

from audit.services import AuditContext, audit_record, field_changes, secret_state
from mpesa import outcomes
from mpesa.commands import daraja_command_create, daraja_command_enqueue, new_originator_id, parse_account_balance
from mpesa.daraja import NAIROBI
from mpesa.models import DarajaCommand
from payme import metrics
from payme.errors import ApplicationError, Conflict, NotFound, UnprocessableEntity
from payouts.models import Payout, PayoutConfig, PayoutDay
from webhooks.services import event_emit

PURPOSE_PAYOUT = "payout"
PURPOSE_REFUND = "refund"
PURPOSE_BALANCE = "payout_balance"
SECRET_FIELDS = ("initiator_password", "consumer_key", "consumer_secret")
AUDITED_FIELDS = ("shortcode", "initiator_name", *SECRET_FIELDS, "max_per_payout", "daily_max", "approval_threshold")
SETUP_URL = "/api/payout-config/setup"


class PayoutConfigMissing(Conflict):
    code = "payout_config_missing"
    default_message = "Set up your B2C shortcode and initiator first."

    def __init__(self, message=None, **kwargs):
        kwargs.setdefault("extra", {"setup_url": SETUP_URL})
        super().__init__(message, **kwargs)


class NoActivePayoutConfig(PayoutConfigMissing, NotFound):
    default_message = "This business has no active payout config."
    status_code = 404


class PayoutLimitExceeded(UnprocessableEntity):
    code = "payout_limit_exceeded"


class DailyLimitExceeded(UnprocessableEntity):
    code = "daily_limit_exceeded"


class ApprovalNotAllowed(ApplicationError):
    code = "approval_not_allowed"
    status_code = 403
    default_message = "A payout must be approved by a second owner (or a platform superuser), not by the one who asked."


class NotAwaitingApproval(Conflict):
    code = "payout_not_awaiting_approval"
    default_message = "This payout is not waiting for approval."


class SaleNotRefundable(Conflict):
    code = "sale_not_refundable"
    default_message = "Only a paid sale can be refunded."


class RefundExceedsPaid(UnprocessableEntity):
    code = "refund_exceeds_paid"


# --- Payout config ----------------------------------------------------------------------------


def _audit_values(config: PayoutConfig) -> dict:
    return {name: getattr(config, name) for name in AUDITED_FIELDS}


def _secrets_as_states(values: dict) -> dict:
    return {name: (secret_state(value) if name in SECRET_FIELDS else value) for name, value in values.items()}


def _audit_deactivated(config: PayoutConfig, context: AuditContext | None) -> None:
    audit_record(business=config.business_id, action="payout_config.deactivated", object_type="payout_config",
                 object_id=config.public_id, before={"is_active": True}, after={"is_active": False}, context=context)


def _require_config(business, *, lock=False, missing=PayoutConfigMissing) -> PayoutConfig:
    qs = PayoutConfig.objects.filter(business=business, is_active=True)
    if lock:
        qs = qs.select_for_update()
    config = qs.first()
    if config is None:
        raise missing()
    return config


def payout_config_setup(
    *, business, shortcode: str, initiator_name: str, initiator_password: str, consumer_key: str = "",
    consumer_secret: str = "", max_per_payout: int | None = None, daily_max: int | None = None,
    approval_threshold: int | None = None, context: AuditContext | None = None,
) -> PayoutConfig:
    """Create the business's active payout config; the previous one is deactivated, never deleted.
    Audited as ``payout_config.created`` (secrets only as "set" / "not set")."""
    limits = {name: value for name, value in (("max_per_payout", max_per_payout), ("daily_max", daily_max),
                                              ("approval_threshold", approval_threshold)) if value is not None}
    with transaction.atomic():
        previous = list(PayoutConfig.objects.select_for_update().filter(business=business, is_active=True))
        PayoutConfig.objects.filter(pk__in=[p.pk for p in previous]).update(is_active=False, deactivated_at=timezone.now())
        for old in previous:
            _audit_deactivated(old, context)
        config = PayoutConfig.objects.create(
            business=business, shortcode=shortcode, initiator_name=initiator_name, initiator_password=initiator_password,
            consumer_key=consumer_key or "", consumer_secret=consumer_secret or "", **limits,
        )
        audit_record(business=business, action="payout_config.created", object_type="payout_config", object_id=config.public_id,
                     after=_secrets_as_states(_audit_values(config)), context=context)
    return PayoutConfig.objects.get(pk=config.pk)


def payout_config_update(*, business, changes: dict, context: AuditContext | None = None) -> PayoutConfig:
    """Partial update; a blank secret keeps the stored one. Audited as ``payout_config.updated``
    with the changed fields (a secret only as "changed")."""
    with transaction.atomic():
        config = _require_config(business, lock=True, missing=NoActivePayoutConfig)
        before = _audit_values(config)
        written_secrets = {name: value for name, value in changes.items() if name in SECRET_FIELDS and value}
        for name, value in changes.items():
            if name in SECRET_FIELDS and not value:
                continue
            setattr(config, name, value)
        config.save()
        after = {**{n: v for n, v in _audit_values(config).items() if n not in SECRET_FIELDS}, **written_secrets}
        old, new = field_changes(before, after, secret_fields=SECRET_FIELDS)
        if old or new:
            audit_record(business=business, action="payout_config.updated", object_type="payout_config",
                         object_id=config.public_id, before=old, after=new, context=context)
    return PayoutConfig.objects.get(pk=config.pk)


def payout_config_deactivate(*, business, context: AuditContext | None = None) -> None:
    with transaction.atomic():
        config = _require_config(business, lock=True, missing=NoActivePayoutConfig)
        config.is_active = False
        config.deactivated_at = timezone.now()
        config.save(update_fields=["is_active", "deactivated_at", "updated_at"])
        _audit_deactivated(config, context)


def payout_config_balance_request(*, business) -> PayoutConfig:
    """Record an Account Balance command (a worker sends it); the answer arrives on its result URL
    and sets ``balance`` and ``balance_at``."""
    with transaction.atomic():
        config = _require_config(business, lock=True, missing=NoActivePayoutConfig)
        command = daraja_command_create(
            business=business, kind=DarajaCommand.Kind.ACCOUNT_BALANCE, purpose=PURPOSE_BALANCE,
            shortcode=config.shortcode, command_id="AccountBalance", remarks="Balance",
        )
        config.balance_command = command
        config.save(update_fields=["balance_command", "updated_at"])
        daraja_command_enqueue(command)
    return config


def on_balance_command_change(command: DarajaCommand, previous_status: str) -> None:
    """Registered handler (inside the command's transaction)."""
    if command.status != DarajaCommand.Status.SUCCEEDED:
        return
    balances = parse_account_balance((command.result_parameters or {}).get("AccountBalance"))
    utility = balances.get("Utility Account")
    if utility is None:
        return
    PayoutConfig.objects.filter(business_id=command.business_id, shortcode=command.shortcode).update(
        balance=utility, balance_at=command.completed_at_daraja or timezone.now(), updated_at=timezone.now()
    )


# --- Limits -----------------------------------------------------------------------------------


def payout_day(now=None) -> date:
    return (now or timezone.now()).astimezone(NAIROBI).date()


def _lock_day(business, day: date) -> None:
    """The row lock that serialises the daily-limit check for one business and day."""
    try:
        with transaction.atomic():
            PayoutDay.objects.get_or_create(business=business, day=day)
    except IntegrityError:
        pass  # a concurrent request created it; the lock below waits for it
    PayoutDay.objects.select_for_update().get(business=business, day=day)


def _day_total(business, day: date) -> int:
    return Payout.objects.filter(business=business, day=day, status__in=Payout.COUNTING_STATUSES).aggregate(
        total=Sum("amount"))["total"] or 0


def _check_limits(config: PayoutConfig, business, amount: int, day: date) -> None:
    """Call with the day locked (``_lock_day``). Raises PayoutLimitExceeded / DailyLimitExceeded."""
    if amount > config.max_per_payout:
        raise PayoutLimitExceeded(
            f"The most one payout may be is KES {config.max_per_payout}.",
            fields={"amount": [f"Must be at most {config.max_per_payout}."]},
        )
    used = _day_total(business, day)
    if used + amount > config.daily_max:
        left = max(config.daily_max - used, 0)
        raise DailyLimitExceeded(
            f"This would pass today's payout limit of KES {config.daily_max} (KES {left} left today).",
            fields={"amount": [f"At most {left} is left today."]},
        )


def _send(payout: Payout, config: PayoutConfig) -> None:
    """Record the Daraja command of a payout that may leave now, and enqueue it on commit."""
    if payout.method == Payout.Method.REVERSAL:
        command = daraja_command_create(
            business=payout.business, kind=DarajaCommand.Kind.REVERSAL, purpose=PURPOSE_REFUND, shortcode=config.shortcode,
            command_id="TransactionReversal", amount=payout.amount, transaction_id=payout.sale.mpesa_receipt,
            remarks=payout.remarks,
        )
    else:
        command = daraja_command_create(
            business=payout.business, kind=DarajaCommand.Kind.B2C,
            purpose=PURPOSE_REFUND if payout.kind == Payout.Kind.REFUND else PURPOSE_PAYOUT, shortcode=config.shortcode,
            command_id=payout.command_id, amount=payout.amount, phone=payout.phone, remarks=payout.remarks,
            originator_conversation_id=payout.originator_conversation_id,
        )
    payout.daraja_command = command
    payout.status = Payout.Status.PENDING
    daraja_command_enqueue(command)


# --- Payouts ----------------------------------------------------------------------------------


def payout_request(
    *, business, user, phone: str, amount: int, remarks: str, command_id: str = Payout.Command.BUSINESS_PAYMENT,
    context: AuditContext | None = None,
) -> Payout:
    """An owner asks to pay ``amount`` to ``phone``. Limits are checked under the day's lock.
    Above the approval threshold it waits ``awaiting_approval``; otherwise a worker sends it once
    this transaction commits. Raises PayoutConfigMissing, PayoutLimitExceeded, DailyLimitExceeded."""
    with transaction.atomic():
        config = _require_config(business)
        day = payout_day()
        _lock_day(business, day)
        _check_limits(config, business, amount, day)
        payout = Payout(
            business=business, kind=Payout.Kind.PAYOUT, method=Payout.Method.B2C, phone=phone, amount=amount,
            command_id=command_id, remarks=remarks, day=day, originator_conversation_id=new_originator_id(),
            requested_by=user, status=Payout.Status.AWAITING_APPROVAL,
        )
        if amount <= config.approval_threshold:
            payout.save()
            _send(payout, config)
        payout.save()
        _audit_payout(payout, "payout.requested", context)
    return payout


def _audit_payout(payout: Payout, action: str, context: AuditContext | None, *, before: dict | None = None) -> None:
    """A payout or refund asked for, approved or rejected: what it is and the state it is left in."""
    after = {"kind": payout.kind, "method": payout.method, "amount": payout.amount, "phone": payout.phone,
             "remarks": payout.remarks, "status": payout.status}
    if payout.sale_id:
        after["sale_id"] = str(payout.sale.public_id)
        after["restock"] = payout.restock
    if action == "payout.rejected":
        after["reason"] = payout.reason
    audit_record(business=payout.business_id, action=action, object_type="payout", object_id=payout.public_id,
                 before=before, after=after, context=context)


def _can_approve(payout: Payout, user, *, is_owner: bool) -> bool:
    if user is None or not user.is_authenticated:
        return False
    if payout.requested_by_id == user.pk:
        return False  # never one's own, superuser or not
    return bool(user.is_superuser or is_owner)


def payout_approve(*, business, payout_id, user, is_owner: bool, context: AuditContext | None = None) -> Payout:
    """A second owner of the business (or a platform superuser) lets a payout above the threshold
    leave. Limits are checked again under the day's lock (the config may have changed).
    Raises NotFound, ApprovalNotAllowed, NotAwaitingApproval, PayoutConfigMissing, limit errors."""
    with transaction.atomic():
        payout = _locked_payout(business, payout_id)
        if not _can_approve(payout, user, is_owner=is_owner):
            raise ApprovalNotAllowed()
        if payout.status != Payout.Status.AWAITING_APPROVAL:
            raise NotAwaitingApproval()
        config = _require_config(payout.business)
        if payout.amount > config.max_per_payout:
            raise PayoutLimitExceeded(f"The most one payout may be is KES {config.max_per_payout}.",
                                      fields={"amount": [f"Must be at most {config.max_per_payout}."]})
        payout.approved_by = user
        payout.approved_at = timezone.now()
        _send(payout, config)
        payout.save()
        _audit_payout(payout, "payout.approved", context, before={"status": Payout.Status.AWAITING_APPROVAL})
    return payout


def payout_reject(*, business, payout_id, user, is_owner: bool, reason: str = "", context: AuditContext | None = None) -> Payout:
    """Refuse a payout awaiting approval. Any owner of the business (the asker too: withdrawing)
    or a superuser may reject."""
    with transaction.atomic():
        payout = _locked_payout(business, payout_id)
        if not (user.is_superuser or is_owner):
            raise ApprovalNotAllowed("Only an owner or a platform superuser can reject a payout.")
        if payout.status != Payout.Status.AWAITING_APPROVAL:
            raise NotAwaitingApproval()
        payout.status = Payout.Status.REJECTED
        payout.rejected_by = user
        payout.rejected_at = timezone.now()
        payout.reason = (reason or "Rejected.")[:255]
        payout.save()
        _audit_payout(payout, "payout.rejected", context, before={"status": Payout.Status.AWAITING_APPROVAL})
    return payout


def _locked_payout(business, payout_id) -> Payout:
    qs = Payout.objects.select_for_update(of=("self",)).select_related("sale", "business")
    if business is not None:
        qs = qs.filter(business=business)
    payout = qs.filter(public_id=payout_id).first()
    if payout is None:
        raise NotFound()
    return payout


# --- Refunds ----------------------------------------------------------------------------------


def refund_request(*, business, user, sale_id, amount: int | None = None, restock: bool = False, reason: str = "",
                   context: AuditContext | None = None) -> Payout:
    """Refund a paid sale: the whole amount by Reversal of its receipt, a part by B2C to the phone
    that paid. Never more than was paid in total (the sale row is locked, then the day); the same
    limits and approvals as payouts. Raises NotFound, SaleNotRefundable, RefundExceedsPaid,
    PayoutConfigMissing, limit errors."""
    from sales.models import Sale

    with transaction.atomic():
        sale = Sale.objects.select_for_update().filter(business=business, public_id=sale_id).first()
        if sale is None:
            raise NotFound()
        if sale.status not in (Sale.Status.PAID, Sale.Status.PARTIALLY_REFUNDED) or not sale.mpesa_receipt:
            raise SaleNotRefundable()
        config = _require_config(business)
        taken = Payout.objects.filter(sale=sale, kind=Payout.Kind.REFUND, status__in=Payout.COUNTING_STATUSES).aggregate(
            total=Sum("amount"))["total"] or 0
        left = sale.amount - taken
        amount = left if amount is None else amount
        if left <= 0 or amount > left:
            raise RefundExceedsPaid(
                f"Only KES {max(left, 0)} of this sale is left to refund.",
                fields={"amount": [f"Must be at most {max(left, 0)}."]},
            )
        if restock and not sale.items.exists():
            raise SaleNotRefundable("This sale has no products to restock.", fields={"restock": ["Only a cart sale can be restocked."]})
        day = payout_day()
        _lock_day(business, day)
        _check_limits(config, business, amount, day)
        whole = amount == sale.amount and taken == 0
        payout = Payout(
            business=business, kind=Payout.Kind.REFUND, method=Payout.Method.REVERSAL if whole else Payout.Method.B2C,
            sale=sale, restock=restock, phone=sale.phone, amount=amount, remarks=(reason or f"Refund {sale.mpesa_receipt}")[:100],
            day=day, originator_conversation_id=new_originator_id(), requested_by=user,
            status=Payout.Status.AWAITING_APPROVAL,
        )
        if amount <= config.approval_threshold:
            payout.save()
            _send(payout, config)
        payout.save()
        _audit_payout(payout, "refund.requested", context)
    return payout


# --- Results ----------------------------------------------------------------------------------


def on_payout_command_change(command: DarajaCommand, previous_status: str) -> None:
    """Registered handler (inside the command's transaction, command row locked): the payout
    follows its command; a refund that succeeded adds to the sale's refunded amount (sale row
    locked) and returns the stock once."""
    payout = Payout.objects.select_for_update().filter(daraja_command=command).first()
    if payout is None:
        return
    now = timezone.now()
    if command.status == DarajaCommand.Status.SUCCEEDED:
        payout.status = Payout.Status.SUCCEEDED
        payout.receipt = command.receipt
        payout.recipient_name = command.recipient_name
        payout.reason = ""
        if payout.kind == Payout.Kind.REFUND:
            _apply_refund(payout)
    elif command.status == DarajaCommand.Status.NEEDS_REVIEW:
        payout.status = Payout.Status.NEEDS_REVIEW
        payout.reason = f"The M-Pesa result did not match the request: {command.review_reason}"[:255]
    elif command.status == DarajaCommand.Status.FAILED:
        payout.status = Payout.Status.FAILED
        payout.reason = outcomes.command_reason_for(command.result_code, command.result_desc)[:255]
    else:
        return
    payout.completed_at = now
    payout.save()
    if payout.status in (Payout.Status.SUCCEEDED, Payout.Status.FAILED):
        event_emit(business=payout.business_id, type=f"payout.{payout.status}", data=payout_event_data(payout))
    metrics.payout_finished(payout)


def payout_event_data(payout: Payout) -> dict:
    """What GET /api/payouts/<id> shows of a payout or refund (``kind``): never a command's
    callback token, the initiator or a raw Daraja body."""
    return {
        "object": "payout", "id": str(payout.public_id), "kind": payout.kind, "method": payout.method,
        "sale_id": str(payout.sale.public_id) if payout.sale_id else None, "status": payout.status,
        "phone": payout.phone, "amount": payout.amount, "command": payout.command_id, "remarks": payout.remarks,
        "reason": payout.reason, "receipt": payout.receipt, "recipient_name": payout.recipient_name,
        "completed_at": payout.completed_at.isoformat() if payout.completed_at else None,
        "created_at": payout.created_at.isoformat(),
    }


def _apply_refund(payout: Payout) -> None:
    from sales.services import sale_refund_applied

    # The total is summed from the refund records (each applied once, by its command's state
    # change under lock), so applying it is an assignment: a replay cannot add twice.
    others = Payout.objects.filter(sale_id=payout.sale_id, kind=Payout.Kind.REFUND, status=Payout.Status.SUCCEEDED).exclude(
        pk=payout.pk).aggregate(total=Sum("amount"))["total"] or 0
    sale_refund_applied(sale_id=payout.sale_id, refunded_total=others + payout.amount, restock=payout.restock,
                        reference=f"refund:{payout.public_id}")
    payout.restocked = payout.restock
