from urllib.parse import urlsplit

from payme.errors import NotFound
from webhooks.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint


def webhook_endpoints(*, business):
    return WebhookEndpoint.objects.filter(business=business, deleted_at__isnull=True).order_by("-created_at", "-id")


def webhook_endpoint_get(*, business, endpoint_id) -> WebhookEndpoint:
    """The business's endpoint; another business's (or a deleted one) is a 404."""
    endpoint = webhook_endpoints(business=business).filter(public_id=endpoint_id).first()
    if endpoint is None:
        raise NotFound()
    return endpoint


def webhook_deliveries(*, business, endpoint_id=None, status: str = "", event_type: str = ""):
    qs = (
        WebhookDelivery.objects.filter(business=business)
        .select_related("event", "endpoint", "replay_of")
        .prefetch_related("attempts")
        .order_by("-created_at", "-id")
    )
    if endpoint_id:
        qs = qs.filter(endpoint__public_id=endpoint_id)
    if status:
        qs = qs.filter(status=status)
    if event_type:
        qs = qs.filter(event__type=event_type)
    return qs


def webhook_delivery_get(*, business, delivery_id) -> WebhookDelivery:
    delivery = webhook_deliveries(business=business).filter(public_id=delivery_id).first()
    if delivery is None:
        raise NotFound()
    return delivery


_ATTEMPT_WORDS = {
    WebhookAttempt.Outcome.SUCCESS: "delivered",
    WebhookAttempt.Outcome.HTTP_ERROR: "refused by the receiver",
    WebhookAttempt.Outcome.TIMEOUT: "timed out",
    WebhookAttempt.Outcome.CONNECTION_ERROR: "could not connect",
    WebhookAttempt.Outcome.BLOCKED: "blocked: the address is not allowed",
}


def _host(url: str) -> str:
    """Only the endpoint's host: a path or query may carry the receiver's own token."""
    return urlsplit(url).hostname or "the endpoint"


def webhook_timeline_steps(*, business, object_id) -> list:
    """The webhook deliveries of the events about one object (a sale, a payout: the event's
    ``data.id``), each attempt and how the delivery ended, as timeline steps. Built from the
    outbox rows; the body and the endpoint's secret are never shown."""
    from mpesa.selectors import TimelineStep

    deliveries = (
        WebhookDelivery.objects.filter(business=business, event__business=business, event__payload__data__id=str(object_id))
        .select_related("event", "endpoint", "replay_of")
        .prefetch_related("attempts")
        .order_by("created_at", "id")
    )
    steps = []
    for delivery in deliveries:
        label = f"Webhook \u201c{delivery.event.type}\u201d to {_host(delivery.endpoint.url)}"
        again = " (a replay)" if delivery.replay_of_id else ""
        steps.append(TimelineStep(delivery.created_at, "webhook", f"{label} queued{again}."))
        for attempt in sorted(delivery.attempts.all(), key=lambda a: a.number):
            code = f" (HTTP {attempt.status_code})" if attempt.status_code else ""
            words = _ATTEMPT_WORDS.get(attempt.outcome, attempt.outcome)
            steps.append(TimelineStep(attempt.started_at, "webhook", f"{label}: attempt {attempt.number} {words}{code}."))
        if delivery.status == WebhookDelivery.Status.FAILED and delivery.completed_at:
            steps.append(TimelineStep(delivery.completed_at, "webhook", f"{label}: gave up after {delivery.attempt_count} attempt(s)."))
        elif delivery.status == WebhookDelivery.Status.CANCELLED:
            steps.append(TimelineStep(delivery.updated_at, "webhook", f"{label}: cancelled (the endpoint was disabled or deleted)."))
        elif delivery.status == WebhookDelivery.Status.PENDING and delivery.attempt_count and delivery.next_attempt_at:
            steps.append(TimelineStep(delivery.next_attempt_at, "webhook", f"{label}: next attempt due."))
    return steps
