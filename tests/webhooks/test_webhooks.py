"""Outgoing webhooks against a real local receiver (tests/webhooks/receiver.py): the endpoints
API, the outbox, signed delivery verified with the standardwebhooks package as a business would,
retries, Retry-After, 410, the 5-day disable, replay, rotation and the SSRF rules."""

import json
import logging
from datetime import timedelta

import pytest
from django.core import mail
from django.db import transaction
from django.test import Client
from django.utils import timezone
from standardwebhooks.webhooks import Webhook

from audit.models import AuditEvent
from mpesa.services import PushResult, stk_push_apply_result
from sales.services import sale_create
from tests.conftest import client_for, run_worker, setup_till
from tests.webhooks.receiver import Receiver
from webhooks.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint, WebhookEvent
from webhooks.services import event_emit, webhook_delivery_attempt, webhook_delivery_sweep

ALL_SALE = ["sale.failed", "sale.paid"]


@pytest.fixture
def receiver(settings):
    settings.WEBHOOKS_ALLOW_PRIVATE_TARGETS = True
    settings.WEBHOOKS_TIMEOUT_SECONDS = 1.5
    r = Receiver()
    yield r
    r.stop()


@pytest.fixture
def endpoint(api, receiver):
    response = api.post("/api/webhooks/endpoints", {"url": receiver.url, "events": ALL_SALE, "description": "Shop ERP"}, format="json")
    assert response.status_code == 201, response.content
    return response.json()


def pay_a_sale(business, *, receipt="RCPT000001", amount=250):
    setup_till(business)
    sale = sale_create(business=business, phone="254722000111", amount=amount)
    with run_worker():
        stk_push_apply_result(push_id=sale.push.pk, result=PushResult("0", "ok", receipt=receipt, amount=amount, phone="254722000111"))
    sale.refresh_from_db()
    return sale


def verified(secret, headers, body):
    return Webhook(secret).verify(body, headers)


def make_due(delivery):
    """The clock moved past the delivery's next attempt."""
    WebhookDelivery.objects.filter(pk=delivery.pk).update(next_attempt_at=timezone.now())


# --- Endpoints API ----------------------------------------------------------------------------


@pytest.mark.django_db
def test_creating_an_endpoint_shows_the_secret_once_and_audits_it_as_set(api, endpoint, owner):
    assert endpoint["secret"].startswith("whsec_") and len(endpoint["secret"]) > 30
    assert endpoint["events"] == ALL_SALE and endpoint["enabled"] is True and endpoint["description"] == "Shop ERP"
    secret = endpoint["secret"]
    assert secret not in api.get(f"/api/webhooks/endpoints/{endpoint['id']}").content.decode()
    assert secret not in api.get("/api/webhooks/endpoints").content.decode()
    event = AuditEvent.objects.get(business=owner.business, action="webhook_endpoint.created")
    assert event.after == {"url": endpoint["url"], "events": ALL_SALE, "description": "Shop ERP", "enabled": True, "secret": "set"}
    stored = WebhookEndpoint.objects.values_list("secret", flat=True).get().stored
    assert secret not in stored and stored.startswith("fernet:")


@pytest.mark.django_db
@pytest.mark.parametrize(
    "body, code, field",
    [
        ({"url": "http://8.8.8.8/hooks", "events": ["sale.paid"]}, "webhook_url_not_allowed", "url"),
        ({"url": "https://127.0.0.1/hooks", "events": ["sale.paid"]}, "webhook_url_not_allowed", "url"),
        ({"url": "https://169.254.169.254/latest", "events": ["sale.paid"]}, "webhook_url_not_allowed", "url"),
        ({"url": "https://10.0.0.5/hooks", "events": ["sale.paid"]}, "webhook_url_not_allowed", "url"),
        ({"url": "https://[::1]/hooks", "events": ["sale.paid"]}, "webhook_url_not_allowed", "url"),
        ({"url": "https://user:pw@8.8.8.8/hooks", "events": ["sale.paid"]}, "webhook_url_not_allowed", "url"),
        ({"url": "ftp://8.8.8.8/hooks", "events": ["sale.paid"]}, "webhook_url_not_allowed", "url"),
        ({"url": "https://8.8.8.8/" + "a" * 2000, "events": ["sale.paid"]}, "invalid", "url"),
        ({"url": "https://8.8.8.8/hooks", "events": ["sale.teleported"]}, "unknown_event_type", "events"),
        ({"url": "https://8.8.8.8/hooks", "events": []}, "invalid", "events"),
        ({"events": ["sale.paid"]}, "invalid", "url"),
    ],
)
def test_bad_endpoints_are_refused_with_the_field_named_and_nothing_written(api, body, code, field):
    response = api.post("/api/webhooks/endpoints", body, format="json")
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == code and list(error["fields"]) == [field]
    assert WebhookEndpoint.objects.count() == 0 and AuditEvent.objects.filter(object_type="webhook_endpoint").count() == 0


@pytest.mark.django_db
def test_a_public_https_endpoint_is_accepted_without_the_private_switch(api):
    response = api.post("/api/webhooks/endpoints", {"url": "https://8.8.8.8/hooks", "events": ["sale.paid"]}, format="json")
    assert response.status_code == 201


@pytest.mark.django_db
def test_patch_and_delete_are_audited_and_a_deleted_endpoint_is_gone(api, endpoint, owner):
    response = api.patch(f"/api/webhooks/endpoints/{endpoint['id']}", {"events": ["sale.paid"], "description": "ERP"}, format="json")
    assert response.status_code == 200 and response.json()["events"] == ["sale.paid"]
    assert api.delete(f"/api/webhooks/endpoints/{endpoint['id']}").status_code == 204
    assert api.get(f"/api/webhooks/endpoints/{endpoint['id']}").status_code == 404
    actions = list(AuditEvent.objects.filter(business=owner.business, object_type="webhook_endpoint").order_by("id").values_list("action", "before", "after"))
    assert actions[1] == ("webhook_endpoint.updated", {"description": "Shop ERP", "events": ALL_SALE}, {"description": "ERP", "events": ["sale.paid"]})
    assert actions[2][0] == "webhook_endpoint.deleted"


@pytest.mark.django_db
def test_another_business_endpoint_and_delivery_are_404_and_untouched(api, endpoint, owner, make_owner, receiver):
    pay_a_sale(owner.business)
    delivery = WebhookDelivery.objects.get()
    stranger = client_for(make_owner())
    base = f"/api/webhooks/endpoints/{endpoint['id']}"
    assert stranger.get(base).status_code == 404
    assert stranger.patch(base, {"enabled": False}, format="json").status_code == 404
    assert stranger.delete(base).status_code == 404
    assert stranger.post(f"{base}/rotate-secret").status_code == 404
    assert stranger.post(f"{base}/test").status_code == 404
    assert stranger.get(f"/api/webhooks/deliveries/{delivery.public_id}").status_code == 404
    assert stranger.post(f"/api/webhooks/deliveries/{delivery.public_id}/replay").status_code == 404
    assert stranger.post("/api/webhooks/deliveries/replay", {"since": "2000-01-01T00:00:00Z", "endpoint_id": endpoint["id"]}, format="json").status_code == 404
    assert stranger.get("/api/webhooks/deliveries").json()["results"] == []
    assert stranger.get("/api/webhooks/endpoints").json()["results"] == []
    assert WebhookEndpoint.objects.get().enabled is True and WebhookEndpoint.objects.get().deleted_at is None
    assert WebhookDelivery.objects.count() == 1


@pytest.mark.django_db
def test_cashiers_cannot_manage_webhooks(cashier):
    assert client_for(cashier).get("/api/webhooks/endpoints").status_code == 403
    assert client_for(cashier).post("/api/webhooks/endpoints", {"url": "https://8.8.8.8/x", "events": ["sale.paid"]}, format="json").status_code == 403


# --- Delivery ---------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_paid_sale_is_delivered_signed_and_the_receiver_verifies_it(owner, endpoint, receiver):
    sale = pay_a_sale(owner.business)

    [(headers, body)] = receiver.received
    payload = verified(endpoint["secret"], headers, body)
    event = WebhookEvent.objects.get()
    assert headers["webhook-id"] == event.msg_id and headers["content-type"] == "application/json"
    assert payload == {
        "id": event.msg_id, "type": "sale.paid", "timestamp": event.payload["timestamp"],
        "data": {
            "object": "sale", "id": str(sale.public_id), "status": "paid", "amount": 250, "phone": "254722000111",
            "account_reference": "SHOP1", "description": sale.description, "mpesa_receipt": "RCPT000001", "reason": "",
            "paid_at": sale.paid_at.isoformat(), "needs_review": False, "created_at": sale.created_at.isoformat(),
        },
    }
    assert sale.push.callback_token not in body.decode()
    delivery = WebhookDelivery.objects.get()
    assert (delivery.status, delivery.attempt_count, delivery.last_status_code) == ("succeeded", 1, 200)
    [attempt] = delivery.attempts.all()
    assert (attempt.number, attempt.outcome, attempt.status_code, attempt.response_excerpt) == (1, "success", 200, "ok")


@pytest.mark.django_db
def test_a_duplicate_callback_emits_nothing_more(owner, endpoint, receiver):
    sale = pay_a_sale(owner.business)
    with run_worker():
        stk_push_apply_result(push_id=sale.push.pk, result=PushResult("0", "ok", receipt="RCPT000001", amount=250, phone="254722000111"))
    assert WebhookEvent.objects.count() == 1 and len(receiver.received) == 1


@pytest.mark.django_db
def test_a_cancelled_sale_sends_sale_failed_and_an_unsubscribed_type_sends_nothing(owner, api, endpoint, receiver):
    setup_till(owner.business)
    sale = sale_create(business=owner.business, phone="254722000111", amount=90)
    with run_worker():
        stk_push_apply_result(push_id=sale.push.pk, result=PushResult("1032", "Request cancelled by user"))
    [(headers, body)] = receiver.received
    assert verified(endpoint["secret"], headers, body)["data"]["status"] == "cancelled"
    assert json.loads(body)["type"] == "sale.failed"
    with run_worker(), transaction.atomic():
        assert event_emit(business=owner.business, type="wallet.credited", data={"object": "wallet_entry", "id": "x"}) is None
    assert len(receiver.received) == 1


@pytest.mark.django_db
def test_a_rolled_back_transaction_delivers_nothing(owner, endpoint, receiver):
    with pytest.raises(RuntimeError), run_worker(), transaction.atomic():
        event_emit(business=owner.business, type="sale.paid", data={"object": "sale", "id": "rolled-back"})
        raise RuntimeError("the change failed after the event was written")
    assert WebhookEvent.objects.count() == 0 and WebhookDelivery.objects.count() == 0
    assert receiver.received == []


@pytest.mark.django_db
def test_a_500_is_logged_and_retried_on_the_schedule_then_succeeds(owner, endpoint, receiver):
    receiver.then(status=500, body=b"database down" * 100)
    pay_a_sale(owner.business)

    delivery = WebhookDelivery.objects.get()
    assert (delivery.status, delivery.attempt_count, delivery.last_status_code, delivery.last_error) == ("pending", 1, 500, "HTTP 500")
    wait = (delivery.next_attempt_at - delivery.attempts.get().started_at).total_seconds()
    assert 4.4 <= wait <= 5.6  # 5 s ± 10 % jitter
    attempt = delivery.attempts.get()
    assert attempt.response_excerpt == ("database down" * 100)[:500] and attempt.outcome == "http_error"
    assert WebhookEndpoint.objects.get().failing_since == attempt.started_at

    assert webhook_delivery_attempt(delivery_id=delivery.pk) is None  # not due yet: nothing sent
    make_due(delivery)
    assert webhook_delivery_attempt(delivery_id=delivery.pk) == "success"
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempt_count) == ("succeeded", 2)
    assert [h["webhook-id"] for h, _ in receiver.received] == [delivery.event.msg_id] * 2
    assert WebhookEndpoint.objects.get().failing_since is None


@pytest.mark.django_db
def test_a_task_delivered_twice_sends_once(owner, endpoint, receiver):
    receiver.then(status=503)
    pay_a_sale(owner.business)
    delivery = WebhookDelivery.objects.get()
    make_due(delivery)
    WebhookDelivery.objects.filter(pk=delivery.pk).update(status="sending", claimed_at=timezone.now())
    assert webhook_delivery_attempt(delivery_id=delivery.pk) is None
    assert len(receiver.received) == 1 and delivery.attempts.count() == 1


@pytest.mark.django_db
def test_retry_after_of_a_429_is_honoured(owner, endpoint, receiver):
    receiver.then(status=429, headers={"Retry-After": "120"})
    pay_a_sale(owner.business)
    delivery = WebhookDelivery.objects.get()
    attempt = delivery.attempts.get()
    assert (attempt.status_code, attempt.retry_after_seconds) == (429, 120)
    assert (delivery.next_attempt_at - attempt.started_at).total_seconds() == pytest.approx(120, abs=1.5)


@pytest.mark.django_db
def test_a_410_disables_the_endpoint_cancels_what_waits_and_tells_the_owner(owner, endpoint, receiver):
    receiver.then(status=500)
    pay_a_sale(owner.business)
    first = WebhookDelivery.objects.get()
    waiting = WebhookDelivery.objects.create(business=owner.business, event=first.event, endpoint=first.endpoint, replay_of=first,
                                             next_attempt_at=timezone.now() + timedelta(hours=1))
    make_due(first)
    receiver.then(status=410)
    assert webhook_delivery_attempt(delivery_id=first.pk) == "http_error"

    ep = WebhookEndpoint.objects.get()
    assert (ep.enabled, ep.disabled_reason) == (False, "The receiver answered 410 Gone.")
    assert WebhookDelivery.objects.get(pk=first.pk).status == "failed"
    assert WebhookDelivery.objects.get(pk=waiting.pk).status == "cancelled"
    audit = AuditEvent.objects.get(action="webhook_endpoint.disabled")
    assert audit.after == {"enabled": False, "disabled_reason": "The receiver answered 410 Gone."} and audit.actor_id is None


@pytest.mark.django_db
def test_a_410_on_the_first_attempt_disables_and_emails_the_owner(owner, endpoint, receiver):
    receiver.then(status=410)
    pay_a_sale(owner.business)
    assert WebhookEndpoint.objects.get().enabled is False
    assert WebhookDelivery.objects.get().status == "failed"
    [message] = mail.outbox
    assert message.to == [owner.user.email] and "410 Gone" in message.body and endpoint["url"] in message.body


@pytest.mark.django_db
def test_five_days_of_failures_disable_the_endpoint(owner, endpoint, receiver):
    WebhookEndpoint.objects.filter(public_id=endpoint["id"]).update(failing_since=timezone.now() - timedelta(days=5, seconds=1))
    receiver.then(status=502)
    pay_a_sale(owner.business)
    ep = WebhookEndpoint.objects.get()
    assert (ep.enabled, ep.disabled_reason) == (False, "Every delivery failed for 5 days.")
    assert WebhookDelivery.objects.get().status == "failed"
    assert len(mail.outbox) == 1


@pytest.mark.django_db
def test_when_the_schedule_runs_out_the_delivery_fails(owner, endpoint, receiver, settings):
    settings.WEBHOOKS_RETRY_SCHEDULE = [0, 1]
    receiver.then(status=500).then(status=500)
    pay_a_sale(owner.business)
    delivery = WebhookDelivery.objects.get()
    make_due(delivery)
    webhook_delivery_attempt(delivery_id=delivery.pk)
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempt_count) == ("failed", 2)
    assert WebhookEndpoint.objects.get().enabled is True


@pytest.mark.django_db
@pytest.mark.parametrize(
    "answer, outcome, error",
    [
        ({"status": 302, "headers": {"Location": "http://127.0.0.1:1/elsewhere"}}, "http_error", "Redirects are not followed."),
        ({"hang": 3}, "timeout", "No answer within 1.5 s."),
        ({"reset": True}, "connection_error", "Could not deliver (ConnectionError)."),
    ],
)
def test_a_receiver_that_redirects_hangs_or_resets_is_logged_and_retried(owner, endpoint, receiver, answer, outcome, error):
    receiver.then(**answer)
    pay_a_sale(owner.business)
    delivery = WebhookDelivery.objects.get()
    attempt = delivery.attempts.get()
    assert (attempt.outcome, attempt.error, delivery.status) == (outcome, error, "pending")
    assert attempt.duration_ms < 2500
    assert len(receiver.received) == 1


@pytest.mark.django_db
def test_a_trickling_receiver_is_cut_off_at_the_deadline(owner, endpoint, receiver):
    receiver.then(status=200, body=b"x" * 400, trickle=0.01)
    pay_a_sale(owner.business)
    attempt = WebhookAttempt.objects.get()
    # 400 bytes at 10 ms each would take 4 s; the 1.5 s deadline stops the read with what came.
    assert attempt.duration_ms < 2500 and (attempt.outcome, attempt.status_code) == ("success", 200)
    assert 0 < len(attempt.response_excerpt) < 400


@pytest.mark.django_db
def test_a_target_that_turned_private_is_blocked_at_delivery(owner, endpoint, receiver, settings):
    settings.WEBHOOKS_ALLOW_PRIVATE_TARGETS = False
    pay_a_sale(owner.business)
    attempt = WebhookAttempt.objects.get()
    assert (attempt.outcome, attempt.error) == ("blocked", "The URL points to a private, loopback or link-local address.")
    assert receiver.received == []


# --- Rotation, ping, replay --------------------------------------------------------------------


@pytest.mark.django_db
def test_after_a_rotation_the_receiver_verifies_with_either_secret_for_24_hours(api, owner, endpoint, receiver):
    old = endpoint["secret"]
    response = api.post(f"/api/webhooks/endpoints/{endpoint['id']}/rotate-secret")
    assert response.status_code == 200
    new = response.json()["secret"]
    assert new.startswith("whsec_") and new != old
    assert new not in api.get(f"/api/webhooks/endpoints/{endpoint['id']}").content.decode()
    pay_a_sale(owner.business)
    [(headers, body)] = receiver.received
    assert len(headers["webhook-signature"].split(" ")) == 2
    assert verified(old, headers, body) == verified(new, headers, body)
    audit = AuditEvent.objects.get(action="webhook_endpoint.secret_rotated")
    assert audit.before == {"secret": "set"} and audit.after["secret"] == "changed"
    assert old not in str(audit.after) and new not in str(audit.after)

    WebhookEndpoint.objects.filter(public_id=endpoint["id"]).update(previous_secret_expires_at=timezone.now() - timedelta(seconds=1))
    with run_worker():
        api.post(f"/api/webhooks/endpoints/{endpoint['id']}/test")
    headers, body = receiver.received[-1]
    assert len(headers["webhook-signature"].split(" ")) == 1
    assert verified(new, headers, body)["type"] == "ping"
    with pytest.raises(Exception, match="No matching signature"):
        verified(old, headers, body)


@pytest.mark.django_db
def test_the_test_action_sends_a_ping(api, endpoint, receiver):
    response = api.post(f"/api/webhooks/endpoints/{endpoint['id']}/test")
    assert response.status_code == 202 and response.json()["event_type"] == "ping"
    [(headers, body)] = receiver.received
    assert verified(endpoint["secret"], headers, body)["data"] == {"object": "webhook_endpoint", "id": endpoint["id"]}
    assert WebhookDelivery.objects.get().status == "succeeded"


@pytest.mark.django_db
def test_a_replay_is_a_new_delivery_with_the_same_webhook_id_and_the_old_one_untouched(api, owner, endpoint, receiver):
    pay_a_sale(owner.business)
    original = WebhookDelivery.objects.get()
    response = api.post(f"/api/webhooks/deliveries/{original.public_id}/replay")
    assert response.status_code == 202
    body = response.json()
    assert (body["replay_of"], body["status"], body["webhook_id"]) == (str(original.public_id), "pending", original.event.msg_id)
    assert WebhookDelivery.objects.get(public_id=body["id"]).status == "succeeded"
    assert [h["webhook-id"] for h, _ in receiver.received] == [original.event.msg_id] * 2
    original.refresh_from_db()
    assert (original.status, original.attempt_count, original.attempts.count()) == ("succeeded", 1, 1)
    audit = AuditEvent.objects.get(action="webhook_delivery.replayed")
    assert (audit.object_id, audit.actor_id, audit.after["replay_id"]) == (str(original.public_id), owner.user.pk, body["id"])
    listing = api.get(f"/api/webhooks/deliveries?endpoint_id={endpoint['id']}").json()
    assert listing["count"] == 2 and listing["results"][0]["attempts"][0]["status_code"] == 200


@pytest.mark.django_db
def test_replay_everything_since_a_time(api, owner, endpoint, receiver):
    pay_a_sale(owner.business)
    sale2 = sale_create(business=owner.business, phone="254722000112", amount=30)
    with run_worker():
        stk_push_apply_result(push_id=sale2.push.pk, result=PushResult("0", "ok", receipt="RCPT000002", amount=30, phone="254722000112"))
    assert len(receiver.received) == 2
    response = api.post("/api/webhooks/deliveries/replay", {"since": (timezone.now() - timedelta(minutes=5)).isoformat()}, format="json")
    assert response.status_code == 202 and response.json()["count"] == 2
    assert len(receiver.received) == 4
    assert AuditEvent.objects.get(action="webhook_delivery.replayed").after["count"] == 2  # one row for the batch
    assert api.post("/api/webhooks/deliveries/replay", {"since": "soon"}, format="json").json()["error"]["fields"].keys() == {"since"}


@pytest.mark.django_db
def test_replaying_to_a_disabled_endpoint_is_refused(api, owner, endpoint, receiver):
    pay_a_sale(owner.business)
    delivery = WebhookDelivery.objects.get()
    api.patch(f"/api/webhooks/endpoints/{endpoint['id']}", {"enabled": False}, format="json")
    response = api.post(f"/api/webhooks/deliveries/{delivery.public_id}/replay")
    assert response.status_code == 400 and response.json()["error"]["code"] == "webhook_endpoint_disabled"
    assert WebhookDelivery.objects.count() == 1


# --- The sweep --------------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_sweep_sends_what_is_due_and_frees_what_a_dead_worker_held(owner, endpoint, receiver, settings):
    receiver.then(status=500)
    pay_a_sale(owner.business)
    delivery = WebhookDelivery.objects.get()
    make_due(delivery)
    with run_worker():
        assert webhook_delivery_sweep() == {"enqueued": 1, "abandoned": 0}
    assert WebhookDelivery.objects.get().status == "succeeded"

    WebhookDelivery.objects.filter(pk=delivery.pk).update(status="sending", claimed_at=timezone.now() - timedelta(minutes=5))
    with run_worker():
        assert webhook_delivery_sweep() == {"enqueued": 1, "abandoned": 1}
    assert WebhookDelivery.objects.get().status == "succeeded" and len(receiver.received) == 3


# --- Secrets never leak ------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_secret_is_absent_from_admin_pages_logs_and_audit_rows(api, owner, endpoint, receiver, caplog, admin_user):
    caplog.set_level(logging.DEBUG)
    secret = endpoint["secret"]
    receiver.then(status=410)
    pay_a_sale(owner.business)
    ep = WebhookEndpoint.objects.get()
    delivery = WebhookDelivery.objects.get()
    for user in (owner.user, admin_user):
        web = Client()
        web.force_login(user)
        for url in ("/admin/webhooks/webhookendpoint/", f"/admin/webhooks/webhookendpoint/{ep.pk}/change/",
                    "/admin/webhooks/webhookdelivery/", f"/admin/webhooks/webhookdelivery/{delivery.pk}/change/", "/admin/audit/auditevent/"):
            page = web.get(url)
            assert page.status_code == 200, url
            assert secret not in page.content.decode() and secret.removeprefix("whsec_") not in page.content.decode()
    assert secret not in caplog.text and secret.removeprefix("whsec_") not in caplog.text
    assert not any(secret.removeprefix("whsec_") in str(e.before) + str(e.after) for e in AuditEvent.objects.all())


@pytest.mark.django_db
def test_an_owner_replays_from_the_admin(owner, endpoint, receiver):
    pay_a_sale(owner.business)
    delivery = WebhookDelivery.objects.get()
    web = Client()
    web.force_login(owner.user)
    with run_worker():
        response = web.post("/admin/webhooks/webhookdelivery/", {"action": "replay", "_selected_action": [delivery.pk]}, follow=True)
    assert response.status_code == 200 and "1 delivery queued again." in response.content.decode()
    replay = WebhookDelivery.objects.get(replay_of=delivery)
    assert replay.status == "succeeded" and len(receiver.received) == 2


@pytest.mark.django_db
def test_an_endpoint_that_keeps_failing_is_paused_as_a_whole_then_probed_again(owner, endpoint, receiver, settings):
    settings.WEBHOOKS_BREAKER_THRESHOLD = 2
    settings.WEBHOOKS_BREAKER_PAUSE_SECONDS = 60
    receiver.then(status=500).then(status=500)
    pay_a_sale(owner.business)
    first = WebhookDelivery.objects.get()
    make_due(first)
    webhook_delivery_attempt(delivery_id=first.pk)
    ep = WebhookEndpoint.objects.get()
    assert ep.consecutive_failures == 2 and ep.paused_until is not None

    # A new event while the breaker is open: claimed, not sent, not counted, back in the table.
    with run_worker(), transaction.atomic():
        event_emit(business=owner.business, type="sale.paid", data={"object": "sale", "id": "second"})
    second = WebhookDelivery.objects.exclude(pk=first.pk).get()
    assert (second.status, second.attempt_count) == ("pending", 0)
    assert ep.paused_until <= second.next_attempt_at <= ep.paused_until + timedelta(seconds=30)
    assert len(receiver.received) == 2

    # The pause is over: the next try goes out, succeeds and closes the breaker.
    WebhookEndpoint.objects.filter(pk=ep.pk).update(paused_until=timezone.now() - timedelta(seconds=1))
    make_due(second)
    assert webhook_delivery_attempt(delivery_id=second.pk) == "success"
    ep.refresh_from_db()
    assert (ep.consecutive_failures, ep.paused_until, ep.failing_since) == (0, None, None)


@pytest.mark.django_db
def test_a_top_up_and_an_operator_credit_send_wallet_credited(api, owner, receiver, admin_user):
    from wallet.services import token_purchase_create, wallet_adjust

    created = api.post("/api/webhooks/endpoints", {"url": receiver.url, "events": ["wallet.credited"]}, format="json").json()
    purchase = token_purchase_create(business=owner.business, phone="254712345678", amount=300)
    with run_worker():
        stk_push_apply_result(push_id=purchase.push.pk, result=PushResult("0", "ok", receipt="TOPUP00001", amount=300, phone="254712345678"))
    with run_worker():
        wallet_adjust(business=owner.business, kind="credit", tokens=20, reason="Goodwill", author=admin_user)
        wallet_adjust(business=owner.business, kind="debit", tokens=5, reason="Correction", author=admin_user)

    datas = [verified(created["secret"], h, b)["data"] for h, b in receiver.received]
    assert datas[0] == {"object": "wallet_entry", "id": f"purchase:{purchase.public_id}", "cause": "purchase", "tokens": 300, "balance": 300,
                        "description": "KES 300 via M-Pesa TOPUP00001", "purchase_id": str(purchase.public_id), "amount": 300,
                        "phone": "254712345678", "mpesa_receipt": "TOPUP00001"}
    assert len(datas) == 2 and (datas[1]["cause"], datas[1]["tokens"], datas[1]["balance"], datas[1]["description"]) == ("adjustment", 20, 320, "Goodwill")
