"""One request id followed from an API answer through the web and worker JSON logs: a real
Celery worker (thread pool) takes the task from the broker, as in production."""

import logging

import pytest

from tests.payme.test_observability import captured_logs, json_lines

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

OWNER = {"email": "achieng@example.com", "password": "Str0ng-pass-123", "full_name": "Achieng", "business_name": "Achieng Parking", "phone": "0708374149"}


def test_a_request_id_reaches_the_worker_that_sends_its_push(api):
    session = api.call("POST", "/api/auth/sign-up", json=OWNER)
    assert session.status_code == 201, session.text
    api.auth(session.json()["access"])
    business_id = session.json()["business"]["id"]
    config = api.call("POST", "/api/payment-config/setup", json={
        "method": "till", "shortcode": "7654321", "till_number": "1234567", "passkey": "e2e-passkey",
        "account_reference": "PARK", "account_name": "Achieng Parking"})
    assert config.status_code == 201, config.text

    with captured_logs(level=logging.INFO) as logs:
        sale = api.call("POST", "/api/sales/payment", json={"phone": "0722000111", "amount": 100, "account_reference": "SLOT5"})
        assert sale.status_code == 202, sale.text
        paid = api.poll(f"/api/sales/{sale.json()['id']}", "status", lambda s: s != "pending")
    assert paid["status"] == "paid"
    request_id = sale.headers["X-Request-ID"]
    lines = [line for line in json_lines(logs) if line.get("request_id") == request_id]

    web = [line for line in lines if line["logger"] == "django_structlog.middlewares.request"]
    assert [(line["event"], line["code"], line["business_id"]) for line in web] == [("request_finished", 202, business_id)]
    started = [line for line in lines if line["event"] == "task_started"]
    assert [line["task"] for line in started] == ["mpesa.stk_push_send"]
    task_id = started[0]["task_id"]
    sent = [line for line in lines if line["logger"] == "mpesa.services" and line["event"].startswith("STK push")]
    assert len(sent) == 1
    assert (sent[0]["task_id"], sent[0]["business_id"], sent[0]["purpose"], sent[0]["status"]) == (task_id, business_id, "sale", "pending")
    # The callback is another request (Safaricom's): its own id, never the cashier's.
    applied = [line for line in json_lines(logs) if line["logger"] == "mpesa.services" and line.get("from_status") and line.get("status") == "succeeded"]
    assert applied and all(line.get("request_id") != request_id for line in applied)
