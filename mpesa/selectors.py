"""Reads about Daraja exchanges that the apps above ``mpesa`` share: plain-words reasons and
messages for a payment record, and a payment's timeline, built from the rows we keep (DESIGN.md
"Seeing what happens"; no logging table: the push row, its callback deliveries, and what the
owning app adds — stock movements, ledger entries)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

from mpesa import outcomes, rules
from mpesa.models import CallbackDelivery, StkPush

Status = StkPush.Status
Outcome = CallbackDelivery.Outcome


def till_and_store_mixed_up(*, transaction_type: str, shortcode: str, party_b: str) -> bool:
    """The request's own numbers show the Till/Paybill mix-up Safaricom answers with SFC_IC0003:
    a till whose till number is its store number, or a paybill whose PartyB is another number."""
    if transaction_type == rules.BUY_GOODS:
        return party_b == shortcode
    if transaction_type == rules.PAYBILL:
        return party_b != shortcode
    return False


def stk_push_reason(push: StkPush) -> str:
    """Why a push did not pay, in plain words.

    ``SFC_IC0003`` ("The operator does not exist") names two different problems: on an STK push
    a till/store (or paybill) mix-up in the business's numbers, and a phone number that is not an
    M-Pesa account (the simulator's 254711000009; on B2C it is the only meaning, REFERENCE.md 6).
    The push's numbers tell the first; a payment that already succeeded through the same numbers
    rules it out and leaves the phone; with neither, the reason names both."""
    if push.result_code != outcomes.OPERATOR_DOES_NOT_EXIST:
        return outcomes.reason_for(push.result_code, push.result_desc)
    if till_and_store_mixed_up(transaction_type=push.transaction_type, shortcode=push.shortcode, party_b=push.party_b):
        return outcomes.OPERATOR_REASON_NUMBERS
    # The business's own pushes (its foreign-key index keeps this cheap inside the apply transaction).
    numbers_work = (
        StkPush.objects.filter(
            business_id=push.business_id, shortcode=push.shortcode, party_b=push.party_b,
            transaction_type=push.transaction_type, status=StkPush.Status.SUCCEEDED,
        )
        .exclude(pk=push.pk)
        .exists()
    )
    return outcomes.OPERATOR_REASON_PHONE if numbers_work else outcomes.OPERATOR_REASON_EITHER


RECEIPT_PENDING_NOTE = (
    "Paid: an M-Pesa status query confirmed it, and such a query does not give the receipt number; "
    "it is filled in when Safaricom's callback brings it."
)


def payment_customer_message(push: StkPush | None, *, paid: bool, receipt: str, reason: str) -> str:
    """What a payment record's ``customer_message`` says. While the prompt is live: "Sending…", then
    Daraja's own message ("Success. Request accepted for processing" means the prompt was sent).
    After: what happened — paid with its receipt, or the record's plain reason (issue #13: the
    stale "Success…" stayed on cancelled and failed records). Reads only the loaded rows."""
    if push is not None and push.status in StkPush.OPEN_STATUSES:
        return push.message_for_customer
    if paid:
        return f"Paid: M-Pesa receipt {receipt}." if receipt else RECEIPT_PENDING_NOTE
    return reason



@dataclass(frozen=True)
class TimelineStep:
    at: datetime
    kind: str
    text: str


_DELIVERY_WORDS = {
    Outcome.RECEIVED: "received; being applied",
    Outcome.APPLIED: "applied",
    Outcome.DUPLICATE: "a repeat of one already applied; nothing changed",
    Outcome.REVIEW: "held for a person to check",
    Outcome.IGNORED: "ignored: the payment was already settled",
    Outcome.LEFT_PENDING: "kept until M-Pesa confirms it",
    Outcome.MISMATCH: "refused: it names another M-Pesa request",
    Outcome.MALFORMED: "refused: it could not be read",
}


def _result_desc(delivery: CallbackDelivery) -> str:
    """ResultDesc of a stored callback, for the words; the body itself is never shown."""
    try:
        stk = json.loads(delivery.body)["Body"]["stkCallback"]
        desc = str(stk.get("ResultDesc") or "").strip()
    except (ValueError, KeyError, TypeError, AttributeError):
        return ""
    return desc[:120]


def push_timeline(push: StkPush) -> list[TimelineStep]:
    """What happened to one push, in order and in plain words: sent and Daraja's answer, the prompt,
    every callback delivery with its outcome, the last status query, how it ended."""
    steps: list[TimelineStep] = []
    if push.sent_at:
        steps.append(TimelineStep(push.sent_at, "sent", f"Sent to M-Pesa: KES {push.amount:,} to be paid to {push.party_b}."))
        if push.checkout_request_id and push.customer_message:
            steps.append(TimelineStep(push.sent_at, "prompt", f"M-Pesa accepted it and showed the prompt on the customer's phone "
                                                              f"(\u201c{push.customer_message}\u201d)."))
    if push.status == Status.UNKNOWN:
        steps.append(TimelineStep(push.updated_at, "no_answer", "M-Pesa did not answer in time; the result is settled by its callback "
                                                               "or a status query, never by sending again."))
    deliveries = CallbackDelivery.objects.filter(push=push).order_by("received_at", "id").only("received_at", "outcome", "body", "detail")
    for delivery in deliveries:
        desc = _result_desc(delivery)
        words = _DELIVERY_WORDS.get(delivery.outcome, delivery.get_outcome_display().lower())
        said = f" (\u201c{desc}\u201d)" if desc else ""
        steps.append(TimelineStep(delivery.received_at, "callback", f"M-Pesa's result arrived{said}: {words}."))
    if push.last_queried_at:
        steps.append(TimelineStep(push.last_queried_at, "query", "We asked M-Pesa for the payment's status (STK query)."))
    if push.completed_at:
        steps.append(TimelineStep(push.completed_at, push.status, _ending(push)))
    return steps


def _ending(push: StkPush) -> str:
    if push.status == Status.SUCCEEDED:
        return f"Paid: M-Pesa receipt {push.mpesa_receipt}." if push.mpesa_receipt else "Paid (the receipt number has not arrived yet)."
    if push.status == Status.NEEDS_REVIEW:
        return f"Held for review: {push.review_reason}"
    if push.daraja_error_code:
        return f"M-Pesa refused the request (code {push.daraja_error_code}): {push.result_desc}"
    words = push.get_status_display()
    return f"{words}: {push.result_desc}" if push.result_desc else f"{words}."


def ordered(steps: list[TimelineStep]) -> list[TimelineStep]:
    """Oldest first; steps at the same moment keep the order they were added in."""
    return sorted(steps, key=lambda step: step.at)
