"""/metrics: guarded by METRICS_TOKEN, counting where things happen, right across processes."""

import subprocess
import sys
from datetime import timedelta

import pytest
import responses
from django.test import Client
from django.utils import timezone
from prometheus_client import REGISTRY

from mpesa.models import StkPush
from mpesa.services import stk_push_reconcile
from sales.models import Sale
from sales.services import sale_start
from tests.conftest import DARAJA, accept_push, client_for, error_of, post_callback, run_worker, setup_till, success_callback
from wallet.tasks import check_wallets_task

TOKEN = "metrics-bearer-7c1f0e"


def value(name, **labels):
    return REGISTRY.get_sample_value(name, labels) or 0.0


def scrape(token=TOKEN):
    return Client().get("/metrics", HTTP_AUTHORIZATION=f"Bearer {token}")


@pytest.fixture
def metrics_token(settings):
    settings.METRICS_TOKEN = TOKEN
    return TOKEN


@pytest.fixture
def till_owner(owner):
    setup_till(owner.business)
    return owner


@pytest.mark.django_db
def test_metrics_need_the_bearer_token(settings):
    settings.METRICS_TOKEN = ""
    absent = scrape("")
    assert absent.status_code == 404 and error_of(absent)["code"] == "not_found"

    settings.METRICS_TOKEN = TOKEN
    for headers in ({}, {"HTTP_AUTHORIZATION": "Bearer wrong"}, {"HTTP_AUTHORIZATION": f"Basic {TOKEN}"}, {"HTTP_AUTHORIZATION": TOKEN}):
        refused = Client().get("/metrics", **headers)
        assert refused.status_code == 401
        assert refused["WWW-Authenticate"] == 'Bearer realm="metrics"'
        assert error_of(refused)["code"] == "not_authenticated"
        assert TOKEN not in refused.content.decode()
    assert Client().post("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}").status_code == 405

    ok = scrape()
    assert ok.status_code == 200
    assert ok["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
    text = ok.content.decode()
    assert "# TYPE payme_payments_total counter" in text
    assert "payme_stk_push_oldest_unsent_age_seconds 0.0" in text
    assert "django_http_requests_latency_seconds_by_view_method" in text


@pytest.mark.django_db
def test_a_paid_sale_counts_once_everywhere(till_owner, daraja, metrics_token):
    before = {
        "started": value("payme_payments_total", purpose="sale", outcome="started"),
        "succeeded": value("payme_payments_total", purpose="sale", outcome="succeeded"),
        "applied": value("payme_callbacks_total", outcome="applied"),
        "duplicate": value("payme_callbacks_total", outcome="duplicate"),
        "accepted": value("payme_daraja_calls_total", api="stk_push", result="accepted", code=""),
        "latency": value("payme_daraja_call_seconds_count", api="stk_push"),
        "minted": value("payme_daraja_oauth_tokens_minted_total", environment="simulator"),
        "oauth": value("payme_daraja_calls_total", api="oauth", result="accepted", code=""),
    }
    accept_push(daraja)
    response = client_for(till_owner).post("/api/sales/payment", {"phone": "0708374149", "amount": 50}, format="json")
    assert response.status_code == 202
    push = StkPush.objects.get()
    with run_worker():
        assert post_callback(Client(), push, success_callback(push)).status_code == 200
    with run_worker():
        assert post_callback(Client(), push, success_callback(push)).status_code == 200
    after = {
        "started": value("payme_payments_total", purpose="sale", outcome="started"),
        "succeeded": value("payme_payments_total", purpose="sale", outcome="succeeded"),
        "applied": value("payme_callbacks_total", outcome="applied"),
        "duplicate": value("payme_callbacks_total", outcome="duplicate"),
        "accepted": value("payme_daraja_calls_total", api="stk_push", result="accepted", code=""),
        "latency": value("payme_daraja_call_seconds_count", api="stk_push"),
        "minted": value("payme_daraja_oauth_tokens_minted_total", environment="simulator"),
        "oauth": value("payme_daraja_calls_total", api="oauth", result="accepted", code=""),
    }
    assert {key: after[key] - before[key] for key in before} == {
        "started": 1, "succeeded": 1, "applied": 1, "duplicate": 1, "accepted": 1, "latency": 1, "minted": 1, "oauth": 1,
    }
    text = scrape().content.decode()
    assert f'payme_payments_total{{outcome="succeeded",purpose="sale"}} {after["succeeded"]}' in text


@pytest.mark.django_db
def test_a_refused_push_counts_daraja_s_code_and_the_failure(till_owner, daraja):
    refused_before = value("payme_daraja_calls_total", api="stk_push", result="refused", code="500.001.1001")
    failed_before = value("payme_payments_total", purpose="sale", outcome="failed")
    daraja.add(responses.POST, f"{DARAJA}/mpesa/stkpush/v1/processrequest", status=500,
               json={"requestId": "r", "errorCode": "500.001.1001", "errorMessage": "Merchant does not exist"})
    client_for(till_owner).post("/api/sales/payment", {"phone": "0708374149", "amount": 50}, format="json")
    assert Sale.objects.get().status == "failed"
    assert value("payme_daraja_calls_total", api="stk_push", result="refused", code="500.001.1001") - refused_before == 1
    assert value("payme_payments_total", purpose="sale", outcome="failed") - failed_before == 1


@pytest.mark.django_db
def test_a_rolled_back_payment_was_never_started(till_owner, daraja):
    started = value("payme_payments_total", purpose="sale", outcome="started")
    bad = client_for(till_owner).post("/api/sales/payment", {"phone": "0708374149", "amount": 999_999_999}, format="json")
    assert bad.status_code == 400
    assert value("payme_payments_total", purpose="sale", outcome="started") == started
    assert StkPush.objects.count() == 0


@pytest.mark.django_db
def test_queue_age_open_pushes_reconciliation_and_wallet_check(till_owner, daraja, metrics_token):
    sale_start(business=till_owner.business, user=till_owner.user, phone="254708374149", amount=40)  # never committed: not sent
    StkPush.objects.update(created_at=timezone.now() - timedelta(seconds=200))
    text = scrape().content.decode()
    age = next(line for line in text.splitlines() if line.startswith("payme_stk_push_oldest_unsent_age_seconds "))
    assert 200 <= float(age.split()[1]) < 230
    assert 'payme_stk_pushes_open{status="created"} 1.0' in text
    assert 'payme_stk_pushes_open{status="pending"} 0.0' in text

    runs, expired = value("payme_reconcile_runs_total"), value("payme_reconcile_pushes_total", result="expired")
    with run_worker():
        counts = stk_push_reconcile(older_than_seconds=0, expire_after_seconds=100)
    assert counts["expired"] == 1
    assert value("payme_reconcile_runs_total") - runs == 1
    assert value("payme_reconcile_pushes_total", result="expired") - expired == 1

    assert check_wallets_task() == 0
    assert value("payme_wallets_mismatched") == 0
    assert value("payme_wallet_check_timestamp_seconds") > timezone.now().timestamp() - 60


_CHILD = """
import sys
from payme.metrics import PAYMENTS
PAYMENTS.labels("sale", "succeeded").inc(int(sys.argv[1]))
"""


def test_counts_from_separate_processes_are_summed(tmp_path, monkeypatch, settings, db):
    """prometheus-client's multiprocess mode, as gunicorn's workers and Celery run it: two
    processes count, the scrape (any process) answers the sum."""
    settings.METRICS_TOKEN = TOKEN
    env = {"PROMETHEUS_MULTIPROC_DIR": str(tmp_path), "PATH": "/usr/bin:/bin", "DJANGO_SETTINGS_MODULE": "payme.settings_test"}
    for count in (1, 2):
        subprocess.run([sys.executable, "-c", _CHILD, str(count)], env=env, check=True, cwd=settings.BASE_DIR, timeout=60)
    assert len([p for p in tmp_path.iterdir() if p.name.startswith("counter_")]) == 2  # one file per process
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    text = scrape().content.decode()
    assert 'payme_payments_total{outcome="succeeded",purpose="sale"} 3.0' in text
    assert "payme_stk_push_oldest_unsent_age_seconds 0.0" in text
