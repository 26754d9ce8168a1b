"""Reads about STK pushes: a payment's timeline, built from the rows we keep (DESIGN.md "Seeing what
happens"). No logging table: the push row, its callback deliveries, and what the owning app adds
(stock movements, ledger entries)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

from mpesa.models import CallbackDelivery, StkPush

Status = StkPush.Status
Outcome = CallbackDelivery.Outcome


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
