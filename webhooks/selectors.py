from payme.errors import NotFound
from webhooks.models import WebhookDelivery, WebhookEndpoint


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
