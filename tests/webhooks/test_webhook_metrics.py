"""payme_webhook_deliveries_total: one count per recorded attempt, by what it left, once the
attempt's record commits (a test's transaction never commits: run_worker runs the on-commit work)."""

import pytest
from prometheus_client import REGISTRY

from tests.conftest import run_worker
from tests.webhooks.receiver import Receiver
from tests.webhooks.test_webhooks import ALL_SALE, make_due, pay_a_sale
from webhooks.models import WebhookDelivery
from webhooks.services import webhook_delivery_attempt


def value(outcome):
    return REGISTRY.get_sample_value("payme_webhook_deliveries_total", {"outcome": outcome}) or 0.0


def counts():
    return {outcome: value(outcome) for outcome in ("succeeded", "retrying", "failed")}


def changed(before):
    after = counts()
    return {key: after[key] - before[key] for key in before}


@pytest.fixture
def receiver(settings):
    settings.WEBHOOKS_ALLOW_PRIVATE_TARGETS = True
    settings.WEBHOOKS_TIMEOUT_SECONDS = 1.5
    r = Receiver()
    yield r
    r.stop()


@pytest.fixture
def endpoint(api, receiver):
    response = api.post("/api/webhooks/endpoints", {"url": receiver.url, "events": ALL_SALE}, format="json")
    assert response.status_code == 201, response.content
    return response.json()


@pytest.mark.django_db
def test_a_delivery_that_succeeds_first_time_counts_once(owner, endpoint, receiver):
    before = counts()
    pay_a_sale(owner.business)
    assert WebhookDelivery.objects.get().status == "succeeded"
    assert changed(before) == {"succeeded": 1, "retrying": 0, "failed": 0}


@pytest.mark.django_db
def test_a_500_then_success_counts_a_retry_then_a_success(owner, endpoint, receiver):
    receiver.then(status=500)
    before = counts()
    pay_a_sale(owner.business)
    assert changed(before) == {"succeeded": 0, "retrying": 1, "failed": 0}
    delivery = WebhookDelivery.objects.get()
    with run_worker():
        assert webhook_delivery_attempt(delivery_id=delivery.pk) is None  # not due: no attempt, no count
    assert changed(before) == {"succeeded": 0, "retrying": 1, "failed": 0}
    make_due(delivery)
    with run_worker():
        assert webhook_delivery_attempt(delivery_id=delivery.pk) == "success"
    assert changed(before) == {"succeeded": 1, "retrying": 1, "failed": 0}


@pytest.mark.django_db
def test_when_the_schedule_runs_out_the_failure_counts(owner, endpoint, receiver, settings):
    settings.WEBHOOKS_RETRY_SCHEDULE = [0, 1]
    receiver.then(status=500).then(status=500)
    before = counts()
    pay_a_sale(owner.business)
    make_due(WebhookDelivery.objects.get())
    with run_worker():
        webhook_delivery_attempt(delivery_id=WebhookDelivery.objects.get().pk)
    assert WebhookDelivery.objects.get().status == "failed"
    assert changed(before) == {"succeeded": 0, "retrying": 1, "failed": 1}
