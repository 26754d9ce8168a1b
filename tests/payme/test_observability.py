"""Request ids on every answer and error body, and what reaches a log line (DESIGN.md "Seeing what happens")."""

import json
import logging
import re
from contextlib import contextmanager
from io import StringIO

import pytest
from django.test import Client

from mpesa.models import StkPush
from payme import observability
from payme.observability import current_request_id, redact, scrub
from sales.models import Sale
from tests.conftest import accept_push, client_for, error_of, failure_callback, post_callback, setup_till, success_callback

UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")


@contextmanager
def captured_logs(log_format="json", level=logging.DEBUG):
    """Every line any logger writes while the block runs, rendered by the project's formatter."""
    stream = StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(observability.formatter(log_format))
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(level)
    try:
        yield stream
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)


def json_lines(stream):
    return [json.loads(line) for line in stream.getvalue().splitlines() if line.startswith("{")]


# --- Request ids ----------------------------------------------------------------------------


@pytest.mark.django_db
def test_every_answer_carries_a_fresh_request_id_and_errors_repeat_it(owner):
    anonymous = Client().get("/api/auth/me")
    assert anonymous.status_code == 401
    assert UUID.match(anonymous["X-Request-ID"])
    assert anonymous.json()["error"]["request_id"] == anonymous["X-Request-ID"]

    unknown = Client().get("/api/no-such-thing")
    assert unknown.status_code == 404
    assert error_of(unknown) == {"code": "not_found", "message": "Not found.", "fields": {}}  # error_of checks request_id

    bad = client_for(owner).post("/api/sales/payment", {"phone": "123", "amount": 10}, format="json")
    assert bad.status_code == 400
    assert bad.json()["error"]["request_id"] == bad["X-Request-ID"]
    assert Sale.objects.count() == 0

    ok = client_for(owner).get("/api/auth/me")
    assert ok.status_code == 200 and UUID.match(ok["X-Request-ID"])
    assert len({anonymous["X-Request-ID"], unknown["X-Request-ID"], bad["X-Request-ID"], ok["X-Request-ID"]}) == 4
    assert current_request_id() == ""  # nothing leaks out of a finished request


@pytest.mark.django_db
def test_a_proxy_request_id_is_ignored_unless_trusted(settings):
    settings.DJANGO_STRUCTLOG_TRUST_UPSTREAM_REQUEST_ID = False
    response = Client().get("/api/auth/me", HTTP_X_REQUEST_ID="edge-4f1c9a7b")
    assert response["X-Request-ID"] != "edge-4f1c9a7b" and UUID.match(response["X-Request-ID"])

    settings.DJANGO_STRUCTLOG_TRUST_UPSTREAM_REQUEST_ID = True
    trusted = Client().get("/api/auth/me", HTTP_X_REQUEST_ID="edge-4f1c9a7b")
    assert trusted["X-Request-ID"] == "edge-4f1c9a7b"
    assert trusted.json()["error"]["request_id"] == "edge-4f1c9a7b"


@pytest.mark.django_db
def test_a_forged_looking_proxy_request_id_is_replaced(settings):
    settings.DJANGO_STRUCTLOG_TRUST_UPSTREAM_REQUEST_ID = True
    with captured_logs() as logs:
        response = Client().get("/api/auth/me", HTTP_X_REQUEST_ID='x" injected="1')
    assert UUID.match(response["X-Request-ID"])
    assert response.json()["error"]["request_id"] == response["X-Request-ID"]
    finished = [line for line in json_lines(logs) if line["event"] == "request_finished"]
    assert [line["request_id"] for line in finished] == [response["X-Request-ID"]]
    assert "injected" not in logs.getvalue()


def test_console_format_for_development_is_not_json():
    with captured_logs(log_format="console", level=logging.INFO) as logs:
        logging.getLogger("payme.test").info("Push sent to 254708374149")
    line = logs.getvalue().strip()
    assert not line.startswith("{")
    assert "Push sent to 2547****4149" in line and "254708374149" not in line


# --- Redaction ------------------------------------------------------------------------------


def test_scrub_masks_every_phone_form_and_tokens():
    token = "a" * 64
    text = f"to 254708374149, 0712345678, +254112345678 at /api/daraja/callback/{token}/ ref {token}"
    assert scrub(text) == (
        "to 2547****4149, 07****5678, +2541****5678 at /api/daraja/callback/[redacted]/ ref [redacted]"
    )
    # A UUID, an amount, a receipt and a shortcode are not phones.
    assert scrub("4f1c9a7b-0000-4000-8000-254708374149a 174379 1141 NLJ7RT61SV") == "4f1c9a7b-0000-4000-8000-254708374149a 174379 1141 NLJ7RT61SV"


def test_redact_drops_secret_keys_wherever_they_are():
    event = redact(None, "info", {
        "event": "done",
        "passkey": "p", "consumer_secret": "s", "callback_token": "t", "raw_callback": {"a": 1}, "body": "b",
        "nested": {"Password": "x", "phone": "254708374149", "tokens": 300},
        "tokens": 300,
    })
    assert event == {
        "event": "done",
        "passkey": "[redacted]", "consumer_secret": "[redacted]", "callback_token": "[redacted]",
        "raw_callback": "[redacted]", "body": "[redacted]",
        "nested": {"Password": "[redacted]", "phone": "2547****4149", "tokens": 300},
        "tokens": 300,
    }


@pytest.mark.django_db
def test_no_secret_token_raw_body_or_phone_reaches_a_log_line(make_owner, daraja):
    """A sentinel test: a whole payment, its callbacks (applied, duplicate, malformed, unknown
    token, wrong source) and a failure, at DEBUG, in both formats; none of the secrets shows."""
    sentinel_passkey = "SENTINEL-passkey-7f3a9c"
    sentinel_secret = "SENTINEL-consumer-secret-51be"
    sentinel_password = "SENTINEL-Pass-word-9921"
    owner = make_owner(password=sentinel_password, phone="254722000111")
    setup_till(owner.business, passkey=sentinel_passkey, consumer_key="own-key", consumer_secret=sentinel_secret)
    for log_format in ("json", "console"):
        accept_push(daraja)
        accept_push(daraja)
        with captured_logs(log_format=log_format) as logs:
            signed_in = Client().post(
                "/api/auth/sign-in", {"email": owner.user.email, "password": sentinel_password}, content_type="application/json"
            )
            assert signed_in.status_code == 200
            response = client_for(owner).post("/api/sales/payment", {"phone": "0708374149", "amount": 50}, format="json")
            assert response.status_code == 202
            push = StkPush.objects.get(sale__public_id=response.json()["id"])
            callback = success_callback(push, receipt=f"RCPT{log_format[:4].upper()}01")
            assert post_callback(Client(), push, callback).status_code == 200
            assert post_callback(Client(), push, callback).status_code == 200
            assert post_callback(Client(), push, b"{not json").status_code == 400
            assert Client().post(f"/api/daraja/callback/{'f' * 64}/", callback, content_type="application/json").status_code == 200
            failed = client_for(owner).post("/api/sales/payment", {"phone": "0711000001", "amount": 20}, format="json")
            other = StkPush.objects.get(sale__public_id=failed.json()["id"])
            post_callback(Client(), other, failure_callback(other))
        text = logs.getvalue()
        assert "request_finished" in text and "Push " in text  # it did log
        for secret in (sentinel_passkey, sentinel_secret, sentinel_password, push.callback_token, other.callback_token,
                       push.checkout_request_id, "CallbackMetadata", "Bearer ", "tok-1"):
            assert secret not in text, (log_format, secret)
        assert not re.search(r"(?<!\d)(254|0)[17]\d{8}(?!\d)", text), text
