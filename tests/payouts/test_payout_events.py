"""payout.succeeded / payout.failed and sale.refunded: written by the result's transaction, once."""

import json

from payouts.models import Payout
from tests.payouts import test_payouts_api as base
from tests.payouts.test_payouts_api import PASSWORD, REVERSAL, ack, ask, b2c_result, deliver, reversal_result
from tests.webhooks.subscriptions import assert_no_secret, events_of, subscribe
from webhooks.models import WebhookEvent

configured = base.configured  # the payouts tests' fixtures
paid_cart_sale = base.paid_cart_sale


def test_a_payout_result_emits_payout_succeeded_once(api, owner, configured, daraja):
    subscribe(owner.business)
    ack(daraja)
    ask(api)
    assert WebhookEvent.objects.count() == 0  # asking is not an event
    payout = Payout.objects.get()
    command = payout.daraja_command
    deliver(api, command, b2c_result(command))
    deliver(api, command, b2c_result(command))  # duplicate result: nothing more
    payout.refresh_from_db()
    [event] = events_of(owner.business, "payout.succeeded")
    assert event["data"] == {
        "object": "payout", "id": str(payout.public_id), "kind": "payout", "method": "b2c", "sale_id": None,
        "status": "succeeded", "phone": "254705912645", "amount": 500, "command": "BusinessPayment",
        "remarks": "Supplier payment", "reason": "", "receipt": "SG632NMUAB", "recipient_name": "JANE WANJIKU",
        "completed_at": event["data"]["completed_at"], "created_at": event["data"]["created_at"],
    }
    assert event["data"]["completed_at"] is not None
    assert WebhookEvent.objects.count() == 1
    assert_no_secret(event, PASSWORD, command.callback_token, command.conversation_id, command.originator_conversation_id)
    assert "testapi" not in json.dumps(event)  # the initiator's name stays ours


def test_a_failed_payout_emits_payout_failed_with_the_reason(api, owner, configured, daraja):
    subscribe(owner.business)
    ack(daraja)
    ask(api)
    command = Payout.objects.get().daraja_command
    deliver(api, command, b2c_result(command, code=1))
    deliver(api, command, b2c_result(command, code=1))
    [event] = events_of(owner.business, "payout.failed")
    assert (event["data"]["status"], event["data"]["receipt"], event["data"]["reason"]) == (
        "failed", "", "The B2C account does not hold enough money for this payment. Top up the utility account.")
    assert events_of(owner.business, "payout.succeeded") == []
    assert WebhookEvent.objects.count() == 1


def test_a_result_sent_to_review_emits_nothing(api, owner, configured, daraja):
    subscribe(owner.business)
    ack(daraja)
    ask(api)
    command = Payout.objects.get().daraja_command
    deliver(api, command, b2c_result(command, phone="254711111111"))
    assert Payout.objects.get().status == "needs_review"
    assert WebhookEvent.objects.count() == 0


def test_a_refund_emits_sale_refunded_and_payout_succeeded_once(api, owner, configured, paid_cart_sale, daraja):
    subscribe(owner.business)
    ack(daraja, REVERSAL)
    api.post(f"/api/sales/{paid_cart_sale.public_id}/refunds", {"restock": True}, format="json")
    refund = Payout.objects.get()
    command = refund.daraja_command
    deliver(api, command, reversal_result(command, 800))
    deliver(api, command, reversal_result(command, 800))
    [refunded] = events_of(owner.business, "sale.refunded")
    data = refunded["data"]
    assert (data["object"], data["id"], data["status"], data["amount"], data["refunded_amount"], data["mpesa_receipt"]) == (
        "sale", str(paid_cart_sale.public_id), "refunded", 800, 800, "NLJ7RT61SV")
    [succeeded] = events_of(owner.business, "payout.succeeded")
    assert (succeeded["data"]["kind"], succeeded["data"]["method"], succeeded["data"]["sale_id"], succeeded["data"]["receipt"]) == (
        "refund", "reversal", str(paid_cart_sale.public_id), "SKL0000REV")
    for event in (refunded, succeeded):
        assert_no_secret(event, PASSWORD, command.callback_token, paid_cart_sale.push.callback_token)
    assert WebhookEvent.objects.filter(type__in=["sale.refunded", "payout.succeeded"]).count() == 2


def test_a_partial_refund_reports_partially_refunded(api, owner, configured, paid_cart_sale, daraja):
    subscribe(owner.business, ["sale.refunded"])
    ack(daraja)
    api.post(f"/api/sales/{paid_cart_sale.public_id}/refunds", {"amount": 300}, format="json")
    command = Payout.objects.get().daraja_command
    deliver(api, command, b2c_result(command))
    [refunded] = events_of(owner.business, "sale.refunded")
    assert (refunded["data"]["status"], refunded["data"]["refunded_amount"]) == ("partially_refunded", 300)
    assert WebhookEvent.objects.count() == 1  # not subscribed to payout.succeeded
