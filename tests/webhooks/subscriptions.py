"""A business subscribed to events, for the tests of the apps that emit them: the endpoint is
written directly (no DNS look-up) at an address PayMe refuses to send to, so a delivery is
recorded and blocked, never sent anywhere."""

import json

from webhooks.models import EVENT_TYPES, WebhookEndpoint, WebhookEvent


def subscribe(business, events=EVENT_TYPES) -> WebhookEndpoint:
    return WebhookEndpoint.objects.create(business=business, url="https://127.0.0.1:9/hooks", events=list(events),
                                          secret="whsec_" + "A" * 32)


def events_of(business, type: str) -> list[dict]:
    """The payloads of the business's events of ``type``, oldest first."""
    return [e.payload for e in WebhookEvent.objects.filter(business=business, type=type).order_by("pk")]


def assert_no_secret(payload: dict, *secrets) -> None:
    text = json.dumps(payload)
    for secret in secrets:
        assert secret and str(secret) not in text
