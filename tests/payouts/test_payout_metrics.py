"""payme_payouts_total (counted once the payout's final status commits) and the queue age of
the oldest unsent Daraja command (read at scrape time)."""

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone
from prometheus_client import REGISTRY

from mpesa.models import DarajaCommand
from payouts.models import Payout
from tests.payouts.test_payouts_api import ack, ask, b2c_result, deliver, setup_payouts

TOKEN = "metrics-bearer-5d2a91"


def value(kind, status):
    return REGISTRY.get_sample_value("payme_payouts_total", {"kind": kind, "status": status}) or 0.0


def counts():
    return {status: value("payout", status) for status in ("succeeded", "failed", "needs_review")}


def changed(before):
    after = counts()
    return {key: after[key] - before[key] for key in before}


@pytest.fixture
def configured(owner):
    return setup_payouts(owner.business)


@pytest.mark.django_db
def test_a_payout_counts_once_when_it_succeeds_and_not_for_a_duplicate(api, configured, daraja):
    ack(daraja)
    before = counts()
    assert ask(api).status_code == 202
    assert changed(before) == {"succeeded": 0, "failed": 0, "needs_review": 0}  # sent, not final
    command = Payout.objects.get().daraja_command
    deliver(api, command, b2c_result(command))
    deliver(api, command, b2c_result(command))
    assert Payout.objects.get().status == "succeeded"
    assert changed(before) == {"succeeded": 1, "failed": 0, "needs_review": 0}


@pytest.mark.django_db
def test_failed_and_review_payouts_count_by_status(api, configured, daraja):
    ack(daraja)
    before = counts()
    ask(api)
    ask(api, phone="0711222333")
    first, second = Payout.objects.order_by("created_at")
    deliver(api, first.daraja_command, b2c_result(first.daraja_command, code=1))
    deliver(api, second.daraja_command, b2c_result(second.daraja_command, phone="254700000000"))
    assert sorted(Payout.objects.values_list("status", flat=True)) == ["failed", "needs_review"]
    assert changed(before) == {"succeeded": 0, "failed": 1, "needs_review": 1}


@pytest.mark.django_db
def test_oldest_unsent_command_age_is_read_at_scrape_time(api, configured, daraja, settings):
    settings.METRICS_TOKEN = TOKEN

    def age():
        text = Client().get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}").content.decode()
        line = next(line for line in text.splitlines() if line.startswith("payme_daraja_command_oldest_unsent_age_seconds "))
        return float(line.split()[1])

    assert age() == 0.0
    ack(daraja)
    ask(api)
    assert DarajaCommand.objects.get().status == "accepted"  # sent: not in the queue
    assert age() == 0.0
    DarajaCommand.objects.update(status="created", created_at=timezone.now() - timedelta(seconds=300))
    assert 300 <= age() < 330


@pytest.mark.django_db
def test_a_rolled_back_result_counts_nothing(api, configured, daraja):
    from django.db import transaction

    from mpesa.commands import daraja_command_apply_result, parse_result
    from tests.conftest import run_worker

    ack(daraja)
    ask(api)
    command = Payout.objects.get().daraja_command
    before = counts()

    class Boom(Exception):
        pass

    with run_worker(), pytest.raises(Boom), transaction.atomic():
        daraja_command_apply_result(command_id=command.pk, result=parse_result(b2c_result(command)))
        raise Boom
    assert Payout.objects.get().status == "pending"
    assert changed(before) == {"succeeded": 0, "failed": 0, "needs_review": 0}
