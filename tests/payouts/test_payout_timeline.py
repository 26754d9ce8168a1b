"""GET /api/payouts/<id>/timeline and the refunds and webhook deliveries in a sale's timeline:
built from the payout, its Daraja command, the result deliveries and the webhook outbox."""

import pytest

from payouts.models import Payout
from tests.conftest import client_for
from tests.payouts.test_payouts_api import (
    REVERSAL,
    ack,
    ask,
    b2c_result,
    deliver,
    second_owner,  # noqa: F401  (a fixture)
    setup_payouts,
)
from tests.webhooks.receiver import Receiver
from tests.webhooks.test_webhooks import pay_a_sale
from webhooks.models import WebhookDelivery


@pytest.fixture
def configured(owner):
    return setup_payouts(owner.business)


@pytest.fixture
def receiver(settings):
    settings.WEBHOOKS_ALLOW_PRIVATE_TARGETS = True
    settings.WEBHOOKS_TIMEOUT_SECONDS = 1.5
    r = Receiver()
    yield r
    r.stop()


def subscribe(api, receiver, events, daraja):
    daraja.add_passthru(receiver.url)  # Daraja is mocked; the receiver is a real server
    response = api.post("/api/webhooks/endpoints", {"url": receiver.url + "/hook?token=receiver-own-token", "events": events},
                        format="json")
    assert response.status_code == 201, response.content


def steps_of(client, url):
    response = client.get(url)
    assert response.status_code == 200, response.content
    return [(step["kind"], step["text"]) for step in response.json()["steps"]]


def test_a_paid_payout_its_duplicate_result_and_its_webhook(api, owner, configured, daraja, receiver):
    subscribe(api, receiver, ["payout.succeeded"], daraja)
    ack(daraja)
    payout_id = ask(api).json()["id"]
    command = Payout.objects.get().daraja_command
    deliver(api, command, b2c_result(command))  # the service emits payout.succeeded; a worker delivers it
    deliver(api, command, b2c_result(command))
    response = api.get(f"/api/payouts/{payout_id}/timeline")
    assert response.json()["id"] == payout_id
    assert steps_of(api, f"/api/payouts/{payout_id}/timeline") == [
        ("created", f"Payout of KES 500 to 254705912645 requested by {owner.user.full_name} (\u201cSupplier payment\u201d)."),
        ("queued", "B2C BusinessPayment of KES 500 to 254705912645 recorded, to be sent by a worker."),
        ("sent", "Sent to M-Pesa from shortcode 600996."),
        ("accepted", "M-Pesa accepted the request and will send its result."),
        ("callback", "M-Pesa's result arrived: applied."),
        ("succeeded", "Payout paid to JANE WANJIKU: M-Pesa receipt SG632NMUAB."),
        ("webhook", "Webhook \u201cpayout.succeeded\u201d to 127.0.0.1 queued."),
        ("webhook", "Webhook \u201cpayout.succeeded\u201d to 127.0.0.1: attempt 1 delivered (HTTP 200)."),
        ("callback", "M-Pesa's result arrived: a repeat of one already applied; nothing changed."),
    ]
    text = response.content.decode()
    assert "receiver-own-token" not in text and command.callback_token not in text


def test_approved_by_a_second_owner_then_failed(api, owner, configured, second_owner, daraja):  # noqa: F811
    ack(daraja)
    payout_id = ask(api, amount=20_000).json()["id"]
    assert steps_of(api, f"/api/payouts/{payout_id}/timeline") == [
        ("created", f"Payout of KES 20,000 to 254705912645 requested by {owner.user.full_name} (\u201cSupplier payment\u201d)."),
        ("awaiting_approval", "Payout above the approval threshold: waiting for a second owner."),
    ]
    assert client_for(second_owner).post(f"/api/payouts/{payout_id}/approve").status_code == 200
    command = Payout.objects.get().daraja_command
    deliver(api, command, b2c_result(command, code=1))
    assert steps_of(client_for(second_owner), f"/api/payouts/{payout_id}/timeline") == [
        ("created", f"Payout of KES 20,000 to 254705912645 requested by {owner.user.full_name} (\u201cSupplier payment\u201d)."),
        ("awaiting_approval", "Payout above the approval threshold: waiting for a second owner."),
        ("approved", "Payout approved by Second Owner."),
        ("queued", "B2C BusinessPayment of KES 20,000 to 254705912645 recorded, to be sent by a worker."),
        ("sent", "Sent to M-Pesa from shortcode 600996."),
        ("accepted", "M-Pesa accepted the request and will send its result."),
        ("callback", "M-Pesa's result arrived: applied."),
        ("failed", "Payout failed: The B2C account does not hold enough money for this payment. Top up the utility account."),
    ]


def test_a_rejected_payout_never_reached_m_pesa(api, owner, configured, second_owner, daraja):  # noqa: F811
    payout_id = ask(api, amount=20_000).json()["id"]
    client_for(second_owner).post(f"/api/payouts/{payout_id}/reject", {"reason": "Not our supplier"}, format="json")
    assert steps_of(api, f"/api/payouts/{payout_id}/timeline") == [
        ("created", f"Payout of KES 20,000 to 254705912645 requested by {owner.user.full_name} (\u201cSupplier payment\u201d)."),
        ("awaiting_approval", "Payout above the approval threshold: waiting for a second owner."),
        ("rejected", "Payout rejected by Second Owner: Not our supplier"),
    ]


def test_another_business_gets_404_and_a_cashier_403(api, configured, make_owner, cashier, daraja):
    ack(daraja)
    payout_id = ask(api).json()["id"]
    other = make_owner(business_name="Other", phone="254733444555")
    setup_payouts(other.business)
    missing = client_for(other).get(f"/api/payouts/{payout_id}/timeline")
    assert (missing.status_code, missing.json()["error"]["code"]) == (404, "not_found")
    assert client_for(cashier).get(f"/api/payouts/{payout_id}/timeline").status_code == 403
    assert api.get("/api/payouts/00000000-0000-4000-8000-000000000000/timeline").status_code == 404


def test_a_sale_timeline_lists_its_refunds_and_webhook_deliveries(api, owner, configured, daraja, receiver):
    subscribe(api, receiver, ["sale.paid"], daraja)
    receiver.then(status=500)
    sale = pay_a_sale(owner.business, amount=800)
    delivery = WebhookDelivery.objects.get()
    ack(daraja)
    ack(daraja, REVERSAL)
    url = f"/api/sales/{sale.public_id}/refunds"
    first = api.post(url, {"amount": 300, "reason": "One was broken"}, format="json").json()
    command = Payout.objects.get(public_id=first["id"]).daraja_command
    deliver(api, command, b2c_result(command, phone=sale.phone))
    big = api.post(url, {}, format="json").json()
    assert (big["amount"], big["status"]) == (500, "pending")
    steps = steps_of(client_for(owner), f"/api/sales/{sale.public_id}/timeline")
    assert steps == [
        ("created", f"Sale started: KES 800 asked of {sale.phone}."),
        ("succeeded", "Paid: M-Pesa receipt RCPT000001."),
        ("webhook", "Webhook \u201csale.paid\u201d to 127.0.0.1 queued."),
        ("webhook", "Webhook \u201csale.paid\u201d to 127.0.0.1: attempt 1 refused by the receiver (HTTP 500)."),
        ("refund", f"Refund of KES 300 to {sale.phone} requested by {owner.user.full_name} (\u201cOne was broken\u201d)."),
        ("refund", "Refund paid to JANE WANJIKU: M-Pesa receipt SG632NMUAB."),
        ("refund", f"Refund of KES 500 to {sale.phone} requested by {owner.user.full_name} (\u201cRefund RCPT000001\u201d)."),
        ("webhook", "Webhook \u201csale.paid\u201d to 127.0.0.1: next attempt due."),
    ]
    assert WebhookDelivery.objects.get().pk == delivery.pk


def test_another_business_cannot_read_a_sale_timeline_with_refunds(api, owner, configured, make_owner, daraja):
    sale = pay_a_sale(owner.business, amount=800)
    ack(daraja)
    api.post(f"/api/sales/{sale.public_id}/refunds", {"amount": 300}, format="json")
    other = make_owner(business_name="Other", phone="254733444555")
    assert client_for(other).get(f"/api/sales/{sale.public_id}/timeline").status_code == 404
