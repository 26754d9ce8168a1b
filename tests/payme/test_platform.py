import os
import subprocess
import sys
from pathlib import Path
from unittest import mock

import pytest
from django.db import DatabaseError
from django.test import Client

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.django_db
def test_healthz_checks_the_database():
    response = Client().get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok"}


@pytest.mark.django_db
def test_healthz_is_503_when_the_database_is_down():
    with mock.patch("payme.views.connection.cursor", side_effect=DatabaseError("down")):
        response = Client().get("/healthz")
    assert response.status_code == 503
    assert response.json()["database"] == "unreachable"


@pytest.mark.django_db
def test_readyz_checks_database_cache_and_broker_and_reports_the_send_backlog(owner):
    from datetime import timedelta

    from django.utils import timezone

    from mpesa.models import StkPush
    from wallet.services import token_purchase_create

    response = Client().get("/readyz")
    assert response.status_code == 200
    assert response.json() == {
        "status": "ok", "database": "ok", "cache": "ok", "broker": "ok", "oldest_unsent_push_seconds": None, "workers_behind": False,
    }
    purchase = token_purchase_create(business=owner.business, phone="254708374149", amount=10)  # recorded, never sent
    StkPush.objects.filter(pk=purchase.push_id).update(created_at=timezone.now() - timedelta(seconds=45))
    body = Client().get("/readyz").json()
    assert 45 <= body["oldest_unsent_push_seconds"] < 50 and body["workers_behind"] is True and body["status"] == "ok"
    StkPush.objects.filter(pk=purchase.push_id).update(status="pending")
    assert Client().get("/readyz").json()["oldest_unsent_push_seconds"] is None


@pytest.mark.django_db
def test_readyz_is_503_naming_an_unreachable_broker():
    # Celery reads CELERY_BROKER_URL from the environment first; nothing listens on port 1.
    with mock.patch.dict(os.environ, {"CELERY_BROKER_URL": "redis://127.0.0.1:1/0"}):
        response = Client().get("/readyz")
    assert response.status_code == 503
    assert (response.json()["status"], response.json()["broker"], response.json()["database"]) == ("unavailable", "unreachable", "ok")


@pytest.mark.django_db
def test_readyz_is_503_when_the_database_is_down():
    with mock.patch("payme.views.connection.cursor", side_effect=DatabaseError("down")):
        response = Client().get("/readyz")
    assert response.status_code == 503
    assert response.json() == {"status": "unavailable", "database": "unreachable", "cache": "ok", "broker": "ok"}


def _run(args, extra_env):
    env = {k: os.environ[k] for k in ("PATH", "HOME", "LANG") if k in os.environ}
    env.update(extra_env)
    return subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)


PRODUCTION_ENV = {
    "DJANGO_SETTINGS_MODULE": "payme.settings",
    "DEBUG": "0",
    "SECRET_KEY": "a-very-long-production-secret-key-with-enough-entropy-1234567890-abcdef",
    "ALLOWED_HOSTS": "pay.example.co.ke",
    "FIELD_ENCRYPTION_KEYS": "LB1EFYKV8kp1FUJdY8PRWoEs_iEo5PqsbaVi1-6YxOM=",
    "MPESA_ENV": "production",
    "MPESA_CONSUMER_KEY": "key",
    "MPESA_CONSUMER_SECRET": "secret",
    "MPESA_PASSKEY_WALLET": "passkey",
    "MPESA_CALLBACK_URL": "https://pay.example.co.ke/api/daraja/callback",
    "CELERY_BROKER_URL": "redis://127.0.0.1:6379/1",
}


def test_check_deploy_is_clean_with_production_settings():
    result = _run(["check", "--deploy", "--fail-level", "WARNING"], PRODUCTION_ENV)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_missing_secret_key_stops_start_up_with_a_clear_message():
    env = {k: v for k, v in PRODUCTION_ENV.items() if k != "SECRET_KEY"}
    result = _run(["check"], env)
    assert result.returncode != 0
    assert "SECRET_KEY is not set" in result.stderr


@pytest.mark.parametrize(
    "broker, expected", [(None, "payme.E030"), ("embedded://", "payme.W031"), ("memory://", "payme.W031")],
)
def test_production_needs_a_real_broker(broker, expected):
    env = {k: v for k, v in PRODUCTION_ENV.items() if k != "CELERY_BROKER_URL"}
    if broker:
        env["CELERY_BROKER_URL"] = broker
    result = _run(["check", "--deploy", "--fail-level", "WARNING"], env)
    assert result.returncode != 0 and expected in result.stderr


def test_missing_encryption_keys_and_mpesa_secrets_fail_the_checks():
    env = {k: v for k, v in PRODUCTION_ENV.items() if k not in ("FIELD_ENCRYPTION_KEYS", "MPESA_PASSKEY_WALLET")}
    result = _run(["check", "--deploy"], env)
    assert result.returncode != 0
    assert "FIELD_ENCRYPTION_KEYS is not set" in result.stderr
    assert "MPESA_PASSKEY_WALLET is not set" in result.stderr


@pytest.mark.django_db
def test_openapi_schema_validates_without_warnings():
    from io import StringIO

    from django.core.management import call_command

    out = StringIO()
    call_command("spectacular", "--validate", "--fail-on-warn", "--format", "openapi-json", stdout=out)
    schema = __import__("json").loads(out.getvalue())
    paths = schema["paths"]
    for path in ["/api/auth/sign-up", "/api/sales/payment", "/api/wallet-payment/initiate", "/api/payment-config/verify", "/api/products"]:
        assert any(p.rstrip("/").startswith(path) for p in paths), path
    sale = next(v for k, v in paths.items() if k.startswith("/api/sales/payment"))["post"]
    # Daraja's answers reach the record, never the HTTP answer: no 502/503 from a payment start.
    # 413/415: every operation with a body (payme.openapi.add_body_and_auth_errors).
    assert set(sale["responses"]) == {"202", "400", "401", "402", "403", "404", "409", "413", "415", "422", "429"}


@pytest.mark.django_db
def test_docs_work_offline_with_self_hosted_assets():
    response = Client().get("/api/docs")
    assert response.status_code == 200
    html = response.content.decode()
    assert "/static/drf_spectacular_sidecar/" in html
    assert "cdn." not in html and "unpkg" not in html and "jsdelivr" not in html
    assert Client().get("/api/schema").status_code == 200


def test_an_sqlite_without_returning_is_refused_at_start_up():
    from payme.checks import sqlite_problems

    assert [e.id for e in sqlite_problems("django.db.backends.sqlite3", (3, 34, 1))] == ["payme.E020"]
    assert "SQLite 3.34.1 is too old" in sqlite_problems("django.db.backends.sqlite3", (3, 34, 1))[0].msg
    assert sqlite_problems("django.db.backends.sqlite3", (3, 35, 0)) == []
    assert sqlite_problems("django.db.backends.postgresql", (3, 8, 0)) == []
