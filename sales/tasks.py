"""Celery tasks of the sales app: thin doors into sales.services (STYLE.md 17)."""

from celery import shared_task

from sales import services


@shared_task(name="sales.invoice_expire_due", ignore_result=True)
def invoice_expire_due_task() -> int:
    return services.invoice_expire_due()
