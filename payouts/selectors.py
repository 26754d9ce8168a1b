from mpesa.daraja import Credentials, Initiator
from payme.encryption import Secret
from payment_configs.selectors import platform_credentials
from payouts.models import Payout, PayoutConfig


def active_payout_config_for(*, business) -> PayoutConfig | None:
    return PayoutConfig.objects.filter(business=business, is_active=True).first()


def payouts(*, business, kind: str | None = None, status: str | None = None):
    qs = Payout.objects.filter(business=business).select_related("sale")
    if kind:
        qs = qs.filter(kind=kind)
    if status:
        qs = qs.filter(status=status)
    return qs


def payout_get(*, business, public_id) -> Payout | None:
    return Payout.objects.filter(business=business, public_id=public_id).select_related("sale").first()


def sale_refunds(*, sale):
    return Payout.objects.filter(business_id=sale.business_id, sale=sale, kind=Payout.Kind.REFUND).select_related("sale")


def _plain(value) -> str:
    return value.reveal() if isinstance(value, Secret) else value


def daraja_initiator_for(config: PayoutConfig) -> tuple[Credentials, Initiator]:
    """(Daraja app, initiator) of a payout config: the one place its secrets are decrypted."""
    if config.uses_own_daraja_app:
        credentials = Credentials(consumer_key=_plain(config.consumer_key), consumer_secret=_plain(config.consumer_secret))
    else:
        credentials = platform_credentials()
    initiator = Initiator(shortcode=config.shortcode, name=config.initiator_name, password=_plain(config.initiator_password))
    return credentials, initiator


def initiator_for_command(command) -> tuple[Credentials, Initiator]:
    """Registered as ``initiator_for``: the config the command's shortcode belongs to (the active
    one first), so a status query after a replacement still uses the shortcode's initiator."""
    config = (
        PayoutConfig.objects.filter(business_id=command.business_id, shortcode=command.shortcode)
        .order_by("-is_active", "-created_at").first()
    )
    if config is None:
        raise LookupError("the business has no payout config for this shortcode")
    return daraja_initiator_for(config)


def _who(user) -> str:
    return (user.full_name or user.email) if user is not None else "a user since removed"


_COMMAND_DELIVERY_WORDS = {
    "received": "received; being applied",
    "applied": "applied",
    "duplicate": "a repeat of one already applied; nothing changed",
    "review": "held for a person to check",
    "ignored": "ignored: the request was already settled",
    "left_pending": "a queue timeout: the result is settled by a status query",
    "mismatch": "refused: it names another M-Pesa request",
    "malformed": "refused: it could not be read",
}


def _command_steps(command) -> list:
    from mpesa.models import CallbackDelivery, DarajaCommand
    from mpesa.selectors import TimelineStep

    what = "Reversal of M-Pesa receipt " + command.transaction_id if command.kind == DarajaCommand.Kind.REVERSAL else (
        f"B2C {command.command_id} of KES {command.amount:,} to {command.phone}")
    steps = [TimelineStep(command.created_at, "queued", f"{what} recorded, to be sent by a worker.")]
    if command.sent_at:
        steps.append(TimelineStep(command.sent_at, "sent", f"Sent to M-Pesa from shortcode {command.shortcode}."))
        if command.conversation_id:
            steps.append(TimelineStep(command.sent_at, "accepted", "M-Pesa accepted the request and will send its result."))
        elif command.daraja_error_code:
            steps.append(TimelineStep(command.completed_at or command.updated_at, "refused",
                                      f"M-Pesa refused the request (code {command.daraja_error_code}): {command.result_desc}"))
    if command.status == DarajaCommand.Status.UNKNOWN:
        steps.append(TimelineStep(command.updated_at, "no_answer", "No result from M-Pesa yet; it is settled by its result or a "
                                                                   "Transaction Status query, never by sending again."))
    deliveries = CallbackDelivery.objects.filter(command=command).order_by("received_at", "id").only("received_at", "outcome")
    for delivery in deliveries:
        words = _COMMAND_DELIVERY_WORDS.get(delivery.outcome, delivery.get_outcome_display().lower())
        steps.append(TimelineStep(delivery.received_at, "callback", f"M-Pesa's result arrived: {words}."))
    for query in command.status_queries.order_by("created_at", "id"):
        ended = f" It answered: {query.get_status_display().lower()}." if query.completed_at else ""
        steps.append(TimelineStep(query.created_at, "query", f"We asked M-Pesa for the status (Transaction Status).{ended}"))
    return steps


def _payout_ending(payout: Payout) -> str:
    if payout.status == Payout.Status.SUCCEEDED:
        to = f" to {payout.recipient_name}" if payout.recipient_name else ""
        restocked = " The stock was returned." if payout.restocked else ""
        return f"paid{to}: M-Pesa receipt {payout.receipt}.{restocked}"
    if payout.status == Payout.Status.NEEDS_REVIEW:
        return f"held for review: {payout.reason}"
    return f"failed: {payout.reason}" if payout.reason else "failed."


def payout_steps(payout: Payout, *, with_command: bool = True) -> list:
    """A payout's or refund's own steps (requested, approval or rejection, its Daraja command when
    ``with_command``, how it ended), not ordered. A sale's timeline lists its refunds without their
    command's detail."""
    from mpesa.selectors import TimelineStep

    noun = "Refund" if payout.kind == Payout.Kind.REFUND else "Payout"
    how = " by reversing the sale's receipt" if payout.method == Payout.Method.REVERSAL else f" to {payout.phone}"
    steps = [TimelineStep(payout.created_at, "created",
                          f"{noun} of KES {payout.amount:,}{how} requested by {_who(payout.requested_by)} (\u201c{payout.remarks}\u201d).")]
    if payout.approved_at or payout.rejected_at or payout.status == Payout.Status.AWAITING_APPROVAL:
        steps.append(TimelineStep(payout.created_at, "awaiting_approval",
                                  f"{noun} above the approval threshold: waiting for a second owner."))
    if payout.approved_at:
        steps.append(TimelineStep(payout.approved_at, "approved", f"{noun} approved by {_who(payout.approved_by)}."))
    if payout.rejected_at:
        why = f": {payout.reason}" if payout.reason and payout.reason != "Rejected." else "."
        steps.append(TimelineStep(payout.rejected_at, "rejected", f"{noun} rejected by {_who(payout.rejected_by)}{why}"))
    if with_command and payout.daraja_command_id:
        steps += _command_steps(payout.daraja_command)
    if payout.completed_at and payout.status in (Payout.Status.SUCCEEDED, Payout.Status.FAILED, Payout.Status.NEEDS_REVIEW):
        steps.append(TimelineStep(payout.completed_at, payout.status, f"{noun} {_payout_ending(payout)}"))
    return steps


def payout_timeline(*, business, payout: Payout) -> list:
    """A payout's or refund's story, oldest first: requested (and by whom), waiting for and given a
    second owner's approval or rejected, its Daraja command (sent, M-Pesa's answer, each result
    delivery, status queries), how it ended, and the webhook deliveries about it. Built from the
    rows we keep."""
    from mpesa.selectors import ordered
    from webhooks.selectors import webhook_timeline_steps

    return ordered(payout_steps(payout) + webhook_timeline_steps(business=business, object_id=payout.public_id))
