"""Reads about Daraja exchanges that the apps above ``mpesa`` share."""

from mpesa import outcomes, rules
from mpesa.models import StkPush


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
