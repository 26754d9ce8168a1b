"""Webhooks end to end: a live server with the simulator and a real Celery worker, and a real
local receiver that verifies every request with the standardwebhooks package, as a business's
own system would."""

import json
import time

import pytest
from standardwebhooks.webhooks import Webhook

from tests.webhooks.receiver import Receiver

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

OWNER = {"email": "hooks@example.com", "password": "Str0ng-pass-123", "full_name": "Achieng", "business_name": "Achieng Parking", "phone": "0708374149"}


@pytest.fixture
def receiver(settings):
    settings.WEBHOOKS_ALLOW_PRIVATE_TARGETS = True
    settings.WEBHOOKS_RETRY_SCHEDULE = [0, 0.5, 0.5, 0.5]
    r = Receiver()
    yield r
    r.stop()


def wait_for(predicate, timeout=15):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


def events_of(receiver, secret, type_):
    """What the receiver accepted of ``type_``: each body verified with the secret, or the test fails."""
    return [(h, Webhook(secret).verify(b, h)) for h, b in list(receiver.received) if json.loads(b)["type"] == type_]


def test_a_sale_paid_through_the_simulator_reaches_the_receiver_after_two_failures_and_replays(api, live, receiver):
    session = api.call("POST", "/api/auth/sign-up", json=OWNER)
    api.auth(session.json()["access"])
    assert api.call("POST", "/api/payment-config/setup", json={
        "method": "till", "shortcode": "7654321", "till_number": "1234567", "passkey": "e2e-hooks-passkey",
        "account_reference": "PARK", "account_name": "Achieng Parking"}).status_code == 201

    created = api.call("POST", "/api/webhooks/endpoints", json={"url": receiver.url, "events": ["sale.paid", "sale.failed", "payment_config.verified"]})
    assert created.status_code == 201, created.text
    endpoint, secret = created.json(), created.json()["secret"]

    # The config's verification arrives first, on the first try.
    assert api.call("POST", "/api/payment-config/verify", json={}).status_code == 202
    wait_for(lambda: events_of(receiver, secret, "payment_config.verified"))
    [(_, verified)] = events_of(receiver, secret, "payment_config.verified")
    assert verified["data"]["object"] == "payment_config" and verified["data"]["shortcode"] == "7654321"

    # The receiver is down for the next two tries of the sale.
    receiver.then(status=500, body=b"down").then(status=503, headers={"Retry-After": "1"})
    sale = api.call("POST", "/api/sales/payment", json={"phone": "0722000111", "amount": 150, "account_reference": "SLOT5"})
    assert sale.status_code == 202, sale.text
    paid = api.poll(f"/api/sales/{sale.json()['id']}", "status", lambda s: s != "pending")
    assert paid["status"] == "paid"
    wait_for(lambda: len(events_of(receiver, secret, "sale.paid")) == 3)
    attempts = events_of(receiver, secret, "sale.paid")
    assert len({h["webhook-id"] for h, _ in attempts}) == 1
    data = attempts[-1][1]["data"]
    assert (data["id"], data["status"], data["amount"], data["mpesa_receipt"]) == (sale.json()["id"], "paid", 150, paid["mpesa_receipt"])

    deliveries = api.call("GET", "/api/webhooks/deliveries?event_type=sale.paid").json()["results"]
    wait_for(lambda: api.call("GET", f"/api/webhooks/deliveries/{deliveries[0]['id']}").json()["status"] == "succeeded")
    delivery = api.call("GET", f"/api/webhooks/deliveries/{deliveries[0]['id']}").json()
    assert [(a["number"], a["outcome"], a["status_code"]) for a in delivery["attempts"]] == [
        (1, "http_error", 500), (2, "http_error", 503), (3, "success", 200)]
    assert delivery["attempts"][0]["response_excerpt"] == "down" and delivery["attempts"][1]["retry_after_seconds"] == 1

    # Replay: the same event, the same webhook-id, as a new delivery.
    replay = api.call("POST", f"/api/webhooks/deliveries/{delivery['id']}/replay")
    assert replay.status_code == 202 and replay.json()["replay_of"] == delivery["id"]
    wait_for(lambda: len(events_of(receiver, secret, "sale.paid")) == 4)
    assert events_of(receiver, secret, "sale.paid")[-1][0]["webhook-id"] == attempts[0][0]["webhook-id"]

    # Rotation: for 24 h the receiver verifies with either secret.
    rotated = api.call("POST", f"/api/webhooks/endpoints/{endpoint['id']}/rotate-secret").json()["secret"]
    assert api.call("POST", f"/api/webhooks/endpoints/{endpoint['id']}/test").status_code == 202
    wait_for(lambda: events_of(receiver, secret, "ping"))
    [(_, by_old)] = events_of(receiver, secret, "ping")
    [(_, by_new)] = events_of(receiver, rotated, "ping")
    assert by_old == by_new and by_new["data"]["id"] == endpoint["id"]
    for body in (api.call("GET", "/api/webhooks/endpoints").text, api.call("GET", "/api/webhooks/deliveries").text, api.call("GET", "/api/audit-events").text):
        assert secret not in body and rotated not in body
