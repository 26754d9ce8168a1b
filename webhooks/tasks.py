"""Webhook delivery tasks: thin doors into webhooks.services (STYLE.md 17). They take ids; the
service's claim makes a task delivered twice send once."""

from celery import shared_task

from webhooks import services


@shared_task(name="webhooks.deliver", ignore_result=True)
def webhook_deliver_task(delivery_id: int) -> None:
    services.webhook_delivery_attempt(delivery_id=delivery_id)


@shared_task(name="webhooks.sweep", ignore_result=True)
def webhook_sweep_task() -> dict:
    return services.webhook_delivery_sweep()
