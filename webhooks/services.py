"""Outgoing events: the outbox (``event_emit``), endpoints and their secrets, and delivery by
workers following the Standard Webhooks specification (DESIGN.md, "Events to a business's own
systems"; STYLE.md 17-19).

The database is the truth: an event and its deliveries are rows written in the transaction that
made the change, enqueued on commit; a delivery is claimed by a conditional UPDATE (pending →
sending) so a task delivered twice sends once; every try is a ``WebhookAttempt`` row; retries
are rows with ``next_attempt_at``, picked up by a countdown or by the beat sweep."""

from __future__ import annotations

import base64
import json
import logging
import random
import secrets
import time
from dataclasses import dataclass
from datetime import timedelta
from email.utils import parsedate_to_datetime

import requests
from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.utils import timezone
from standardwebhooks.webhooks import Webhook

from audit.services import AuditContext, audit_record, field_changes
from payme import metrics
from payme.errors import ValidationFailed
from webhooks.models import EVENT_TYPES, PING, WebhookAttempt, WebhookDelivery, WebhookEndpoint, WebhookEvent
from webhooks.security import TargetNotAllowed, check_target

logger = logging.getLogger(__name__)

Status = WebhookDelivery.Status
Outcome = WebhookAttempt.Outcome
SECRET_PREFIX = "whsec_"
EXCERPT_CHARS = 500
ROTATION_OVERLAP = timedelta(hours=24)


# --- The outbox -------------------------------------------------------------------------------


def _body_for(type: str, data: dict, at) -> dict:
    payload = {"type": type, "timestamp": at.isoformat(), "data": data}
    if len(json.dumps(payload, separators=(",", ":")).encode()) > settings.WEBHOOKS_MAX_BODY_BYTES:
        # Our payloads are small by construction; if one ever is not, the receiver still learns
        # what happened and to which object, and reads the rest from the API.
        payload["data"] = {"object": data.get("object", ""), "id": data.get("id", ""), "truncated": True}
    return payload


def event_emit(*, business, type: str, data: dict, endpoint: WebhookEndpoint | None = None) -> WebhookEvent | None:
    """Write ``type`` with its public ``data`` to the outbox and one delivery per enabled endpoint
    of the business that subscribed to it (or to ``endpoint`` alone, for a ping); the deliveries
    are enqueued when the transaction commits, so a rolled-back change delivers nothing.

    Must run inside the caller's transaction. Returns None (and writes nothing) when no endpoint
    wants the event. ``data`` must hold only what the business may see: never a secret."""
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("event_emit must run inside the transaction that made the change")
    business_id = getattr(business, "pk", business)
    if endpoint is not None:
        endpoints = [endpoint]
    else:
        candidates = WebhookEndpoint.objects.filter(business_id=business_id, enabled=True, deleted_at__isnull=True)
        endpoints = [e for e in candidates if type in e.events]
    if not endpoints:
        return None
    now = timezone.now()
    event = WebhookEvent.objects.create(business_id=business_id, type=type, payload={})
    event.payload = _body_for(type, data, now)
    event.payload["id"] = event.msg_id
    WebhookEvent.objects.filter(pk=event.pk).update(payload=event.payload)
    deliveries = [
        WebhookDelivery.objects.create(business_id=business_id, event=event, endpoint=e, next_attempt_at=now) for e in endpoints
    ]
    for delivery in deliveries:
        _enqueue_on_commit(delivery.pk)
    return event


def _enqueue_on_commit(delivery_id: int, countdown: float = 0) -> None:
    transaction.on_commit(lambda: _publish(delivery_id, countdown))


def _publish(delivery_id: int, countdown: float = 0) -> None:
    from webhooks.tasks import webhook_deliver_task

    try:
        if countdown > 0:
            webhook_deliver_task.apply_async((delivery_id,), countdown=countdown)
        else:
            webhook_deliver_task.delay(delivery_id)
    except Exception as exc:  # the broker is down: the sweep finds the row later
        logger.error("Could not enqueue webhook delivery %s (%s); the sweep will send it", delivery_id, type(exc).__name__)


# --- Endpoints --------------------------------------------------------------------------------


def _new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(24)).decode()


def _validate(*, url: str | None = None, events: list | None = None) -> None:
    fields = {}
    if url is not None:
        try:
            check_target(url)
        except TargetNotAllowed as exc:
            fields["url"] = [str(exc)]
    if events is not None:
        unknown = sorted({e for e in events if e not in EVENT_TYPES})
        if unknown:
            fields["events"] = [f"Unknown event type: {', '.join(unknown)}. Known: {', '.join(EVENT_TYPES)}."]
        elif not events:
            fields["events"] = ["Choose at least one event type."]
    if fields:
        code = "webhook_url_not_allowed" if "url" in fields else "unknown_event_type"
        raise ValidationFailed(f"Some fields are not valid: {', '.join(sorted(fields))}.", code=code, fields=fields)


def _public_values(endpoint: WebhookEndpoint) -> dict:
    return {"url": endpoint.url, "events": list(endpoint.events), "description": endpoint.description, "enabled": endpoint.enabled}


def webhook_endpoint_create(*, business, url: str, events: list, description: str = "", context: AuditContext | None = None) -> tuple[WebhookEndpoint, str]:
    """Register an endpoint. Returns it and its secret, the only time the secret is shown.
    Raises ValidationFailed (``webhook_url_not_allowed``, ``unknown_event_type``). DNS is looked
    up here, before the transaction."""
    events = sorted(set(events))
    _validate(url=url, events=events)
    secret = _new_secret()
    with transaction.atomic():
        endpoint = WebhookEndpoint.objects.create(business=business, url=url, events=events, description=description, secret=secret)
        audit_record(business=business, action="webhook_endpoint.created", object_type="webhook_endpoint", object_id=endpoint.public_id,
                     after={**_public_values(endpoint), "secret": "set"}, context=context)
    return endpoint, secret


def webhook_endpoint_update(*, endpoint: WebhookEndpoint, changes: dict, context: AuditContext | None = None) -> WebhookEndpoint:
    """Change url, events, description or enabled. Re-enabling clears why it was disabled."""
    if "events" in changes:
        changes["events"] = sorted(set(changes["events"]))
    _validate(url=changes.get("url"), events=changes.get("events"))
    with transaction.atomic():
        endpoint = WebhookEndpoint.objects.select_for_update().get(pk=endpoint.pk)
        before = _public_values(endpoint)
        for name in ("url", "events", "description", "enabled"):
            if name in changes:
                setattr(endpoint, name, changes[name])
        if changes.get("enabled") and not before["enabled"]:
            endpoint.disabled_reason = ""
            endpoint.failing_since = None
            endpoint.consecutive_failures = 0
            endpoint.paused_until = None
        endpoint.save()
        old, new = field_changes(before, _public_values(endpoint))
        if old or new:
            audit_record(business=endpoint.business_id, action="webhook_endpoint.updated", object_type="webhook_endpoint",
                         object_id=endpoint.public_id, before=old, after=new, context=context)
    return endpoint


def webhook_endpoint_delete(*, endpoint: WebhookEndpoint, context: AuditContext | None = None) -> None:
    """Stop sending to it (kept for its deliveries' history); pending deliveries are cancelled."""
    with transaction.atomic():
        endpoint = WebhookEndpoint.objects.select_for_update().get(pk=endpoint.pk)
        endpoint.deleted_at = timezone.now()
        endpoint.enabled = False
        endpoint.save(update_fields=["deleted_at", "enabled", "updated_at"])
        _cancel_pending(endpoint)
        audit_record(business=endpoint.business_id, action="webhook_endpoint.deleted", object_type="webhook_endpoint",
                     object_id=endpoint.public_id, before=_public_values(endpoint) | {"enabled": True}, context=context)


def webhook_endpoint_rotate_secret(*, endpoint: WebhookEndpoint, context: AuditContext | None = None) -> tuple[WebhookEndpoint, str]:
    """A new secret, shown once; the current one keeps signing beside it for 24 h, so a receiver
    can switch without missing an event. A second rotation inside the 24 h drops the oldest."""
    secret = _new_secret()
    with transaction.atomic():
        endpoint = WebhookEndpoint.objects.select_for_update().get(pk=endpoint.pk)
        endpoint.previous_secret = endpoint.secret
        endpoint.previous_secret_expires_at = timezone.now() + ROTATION_OVERLAP
        endpoint.secret = secret
        endpoint.save(update_fields=["previous_secret", "previous_secret_expires_at", "secret", "updated_at"])
        audit_record(business=endpoint.business_id, action="webhook_endpoint.secret_rotated", object_type="webhook_endpoint",
                     object_id=endpoint.public_id, before={"secret": "set"},
                     after={"secret": "changed", "previous_secret_valid_until": endpoint.previous_secret_expires_at.isoformat()},
                     context=context)
    endpoint.refresh_from_db()
    return endpoint, secret


def webhook_endpoint_test(*, endpoint: WebhookEndpoint) -> WebhookDelivery:
    """Send a ``ping`` to this endpoint alone (also when it is not subscribed to anything)."""
    with transaction.atomic():
        event = event_emit(business=endpoint.business_id, type=PING, endpoint=endpoint,
                           data={"object": "webhook_endpoint", "id": str(endpoint.public_id)})
        return event.deliveries.get()


def webhook_delivery_replay(*, delivery: WebhookDelivery, context: AuditContext | None = None, audit: bool = True) -> WebhookDelivery:
    """Send the same event (same ``webhook-id``) to the same endpoint again, as a new delivery;
    the old one and its attempts stay as they were. Raises ValidationFailed
    (``webhook_endpoint_disabled``) when the endpoint no longer receives."""
    endpoint = delivery.endpoint
    if endpoint.deleted_at is not None or not endpoint.enabled:
        raise ValidationFailed("The endpoint is disabled or deleted; enable it first.", code="webhook_endpoint_disabled")
    with transaction.atomic():
        replay = WebhookDelivery.objects.create(
            business_id=delivery.business_id, event_id=delivery.event_id, endpoint=endpoint,
            replay_of=delivery.replay_of or delivery, next_attempt_at=timezone.now(),
        )
        if audit:
            audit_record(business=delivery.business_id, action="webhook_delivery.replayed", object_type="webhook_delivery",
                         object_id=delivery.public_id, after={"replay_id": str(replay.public_id), "endpoint_id": str(endpoint.public_id)},
                         context=context)
        _enqueue_on_commit(replay.pk)
    return replay


def webhook_deliveries_replay_since(*, business, since, endpoint: WebhookEndpoint | None = None, context: AuditContext | None = None) -> list[WebhookDelivery]:
    """Replay every event delivered (or not) to the business's enabled endpoints since ``since``
    (one new delivery per event and endpoint, at most WEBHOOKS_REPLAY_MAX)."""
    originals = WebhookDelivery.objects.filter(
        business=business, replay_of__isnull=True, event__created_at__gte=since,
        endpoint__enabled=True, endpoint__deleted_at__isnull=True,
    ).select_related("endpoint").order_by("event__created_at", "id")
    if endpoint is not None:
        originals = originals.filter(endpoint=endpoint)
    originals = list(originals[: settings.WEBHOOKS_REPLAY_MAX])
    with transaction.atomic():
        replays = [webhook_delivery_replay(delivery=d, context=context, audit=False) for d in originals]
        if replays:
            audit_record(business=business, action="webhook_delivery.replayed", object_type="webhook_delivery", object_id="",
                         after={"since": since.isoformat(), "count": len(replays),
                                "endpoint_id": str(endpoint.public_id) if endpoint else ""}, context=context)
    return replays


def _cancel_pending(endpoint: WebhookEndpoint) -> None:
    WebhookDelivery.objects.filter(endpoint=endpoint, status=Status.PENDING).update(
        status=Status.CANCELLED, completed_at=timezone.now(), updated_at=timezone.now()
    )


# --- Delivery (workers) -----------------------------------------------------------------------


@dataclass
class _Answer:
    outcome: str
    status_code: int | None = None
    error: str = ""
    excerpt: str = ""
    retry_after: int | None = None


def _retry_after_seconds(value: str | None) -> int | None:
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return int(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when is None or when.tzinfo is None:
        return None
    return max(0, int((when - timezone.now()).total_seconds()))


def _signatures(endpoint: WebhookEndpoint, msg_id: str, at, body: str) -> str:
    keys = [endpoint.secret.reveal()]
    if endpoint.previous_secret and endpoint.previous_secret_expires_at and endpoint.previous_secret_expires_at > at:
        keys.append(endpoint.previous_secret.reveal())
    return " ".join(Webhook(key).sign(msg_id=msg_id, timestamp=at, data=body) for key in keys)


def _post(url: str, body: str, headers: dict) -> _Answer:
    """One POST: no redirects, no proxies from the environment, a connect and read timeout, and
    only the first bytes of the answer read (a receiver that trickles is cut off at the deadline)."""
    timeout = settings.WEBHOOKS_TIMEOUT_SECONDS
    deadline = time.monotonic() + timeout
    session = requests.Session()
    session.trust_env = False
    try:
        with session.post(url, data=body.encode(), headers=headers, timeout=(min(5, timeout), timeout), allow_redirects=False, stream=True) as response:
            excerpt = b""
            # read1: one receive per call, so a receiver that trickles is cut off at the deadline
            # (give or take one read timeout), not after a full buffer's worth of its bytes.
            while len(excerpt) < EXCERPT_CHARS and time.monotonic() < deadline:
                chunk = response.raw.read1(EXCERPT_CHARS - len(excerpt))
                if not chunk:
                    break
                excerpt += chunk
            text = excerpt[:EXCERPT_CHARS].decode("utf-8", "replace")
            code = response.status_code
            if 200 <= code < 300:
                return _Answer(Outcome.SUCCESS, code, excerpt=text)
            error = "Redirects are not followed." if 300 <= code < 400 else f"HTTP {code}"
            return _Answer(Outcome.HTTP_ERROR, code, error=error, excerpt=text, retry_after=_retry_after_seconds(response.headers.get("Retry-After")))
    except requests.Timeout:
        return _Answer(Outcome.TIMEOUT, error=f"No answer within {timeout} s.")
    except requests.RequestException as exc:
        return _Answer(Outcome.CONNECTION_ERROR, error=f"Could not deliver ({type(exc).__name__}).")
    finally:
        session.close()


def _claim(delivery_id: int) -> bool:
    now = timezone.now()
    return bool(
        WebhookDelivery.objects.filter(pk=delivery_id, status=Status.PENDING, next_attempt_at__lte=now).update(
            status=Status.SENDING, claimed_at=now, updated_at=now
        )
    )


def webhook_delivery_attempt(*, delivery_id: int) -> str | None:
    """Send one due delivery once: claim it (pending → sending; a second task finds nothing to
    claim), POST it signed outside any transaction, log the attempt and decide what follows.
    Returns the attempt's outcome, or None when there was nothing to do."""
    if not _claim(delivery_id):
        return None
    delivery = WebhookDelivery.objects.select_related("endpoint", "event").get(pk=delivery_id)
    endpoint, event = delivery.endpoint, delivery.event
    if endpoint.deleted_at is not None or not endpoint.enabled:
        WebhookDelivery.objects.filter(pk=delivery_id, status=Status.SENDING).update(
            status=Status.CANCELLED, completed_at=timezone.now(), updated_at=timezone.now()
        )
        return None
    started = timezone.now()
    if endpoint.paused_until is not None and endpoint.paused_until > started:
        # The breaker is open: wait with the endpoint as a whole instead of each delivery timing
        # out on its own (STYLE.md 20). Spread over half a pause so they do not return at once.
        pause = settings.WEBHOOKS_BREAKER_PAUSE_SECONDS
        WebhookDelivery.objects.filter(pk=delivery_id, status=Status.SENDING).update(
            status=Status.PENDING, claimed_at=None, updated_at=started,
            next_attempt_at=endpoint.paused_until + timedelta(seconds=random.uniform(0, pause / 2)),
        )
        return None
    clock = time.monotonic()
    try:
        check_target(endpoint.url)
    except TargetNotAllowed as exc:
        answer = _Answer(Outcome.BLOCKED, error=str(exc)[:255])
    else:
        body = json.dumps(event.payload, separators=(",", ":"))
        headers = {
            "content-type": "application/json",
            "accept-encoding": "identity",
            "user-agent": "PayMe-Webhooks/1",
            "webhook-id": event.msg_id,
            "webhook-timestamp": str(int(started.timestamp())),
            "webhook-signature": _signatures(endpoint, event.msg_id, started, body),
        }
        answer = _post(endpoint.url, body, headers)
    duration_ms = int((time.monotonic() - clock) * 1000)
    _record(delivery_id, answer, started, duration_ms)
    return answer.outcome


def _next_delay(attempts_done: int, retry_after: int | None) -> float | None:
    schedule = settings.WEBHOOKS_RETRY_SCHEDULE
    if attempts_done >= len(schedule):
        return None
    delay = schedule[attempts_done] * random.uniform(0.9, 1.1)  # jitter: spread a burst of retries
    if retry_after is not None:
        delay = max(delay, min(retry_after, settings.WEBHOOKS_MAX_RETRY_AFTER_SECONDS))
    return delay


def _record(delivery_id: int, answer: _Answer, started, duration_ms: int) -> None:
    with transaction.atomic():
        delivery = WebhookDelivery.objects.select_for_update().get(pk=delivery_id)
        endpoint = WebhookEndpoint.objects.select_for_update().get(pk=delivery.endpoint_id)
        delivery.attempt_count += 1
        WebhookAttempt.objects.create(
            delivery=delivery, number=delivery.attempt_count, started_at=started, duration_ms=duration_ms,
            outcome=answer.outcome, status_code=answer.status_code, error=answer.error[:255],
            response_excerpt=answer.excerpt[:EXCERPT_CHARS], retry_after_seconds=answer.retry_after,
        )
        now = timezone.now()
        delivery.last_status_code = answer.status_code
        delivery.last_error = answer.error[:255]
        delivery.claimed_at = None
        if answer.outcome == Outcome.SUCCESS:
            delivery.status = Status.SUCCEEDED
            delivery.completed_at = now
            endpoint.failing_since = None
            endpoint.consecutive_failures = 0
            endpoint.paused_until = None
            endpoint.save(update_fields=["failing_since", "consecutive_failures", "paused_until", "updated_at"])
        elif answer.status_code == 410:
            delivery.status = Status.FAILED
            delivery.completed_at = now
            _disable(endpoint, "The receiver answered 410 Gone.")
        else:
            endpoint.failing_since = endpoint.failing_since or started
            endpoint.consecutive_failures += 1
            if endpoint.consecutive_failures >= settings.WEBHOOKS_BREAKER_THRESHOLD:
                endpoint.paused_until = now + timedelta(seconds=settings.WEBHOOKS_BREAKER_PAUSE_SECONDS)
            endpoint.save(update_fields=["failing_since", "consecutive_failures", "paused_until", "updated_at"])
            delay = _next_delay(delivery.attempt_count, answer.retry_after)
            if now - endpoint.failing_since >= timedelta(seconds=settings.WEBHOOKS_DISABLE_AFTER_SECONDS):
                delivery.status = Status.FAILED
                delivery.completed_at = now
                days = settings.WEBHOOKS_DISABLE_AFTER_SECONDS / 86400
                _disable(endpoint, f"Every delivery failed for {days:g} days.")
            elif delay is None:
                delivery.status = Status.FAILED
                delivery.completed_at = now
            else:
                delivery.status = Status.PENDING
                delivery.next_attempt_at = now + timedelta(seconds=delay)
                if delay <= settings.WEBHOOKS_COUNTDOWN_MAX_SECONDS:
                    _enqueue_on_commit(delivery.pk, countdown=delay)
                # longer waits are not held in a worker's memory: the beat sweep picks them up
        delivery.save()
        metrics.webhook_delivery_attempted(delivery)


def _disable(endpoint: WebhookEndpoint, reason: str) -> None:
    endpoint.enabled = False
    endpoint.disabled_reason = reason
    endpoint.save(update_fields=["enabled", "disabled_reason", "updated_at"])
    _cancel_pending(endpoint)
    audit_record(business=endpoint.business_id, action="webhook_endpoint.disabled", object_type="webhook_endpoint",
                 object_id=endpoint.public_id, before={"enabled": True}, after={"enabled": False, "disabled_reason": reason})
    transaction.on_commit(lambda: _tell_owners(endpoint.business_id, endpoint.url, reason))
    logger.warning("Webhook endpoint %s disabled: %s", endpoint.public_id, reason)


def _tell_owners(business_id: int, url: str, reason: str) -> None:
    from accounts.models import Membership

    emails = list(Membership.objects.filter(business_id=business_id, role=Membership.Role.OWNER).values_list("user__email", flat=True))
    if not emails:
        return
    try:
        send_mail(
            subject="PayMe stopped sending to your webhook endpoint",
            message=f"PayMe disabled the webhook endpoint {url}: {reason}\n"
            "Fix the receiver, enable the endpoint again (PATCH /api/webhooks/endpoints/<id> with enabled: true) "
            "and replay what it missed (POST /api/webhooks/deliveries/replay).",
            from_email=None, recipient_list=emails, fail_silently=False,
        )
    except Exception as exc:  # the endpoint's disabled_reason and the audit log still say it
        logger.error("Could not email the owners about a disabled webhook endpoint (%s)", type(exc).__name__)


def webhook_delivery_sweep() -> dict:
    """Beat: enqueue deliveries that are due (their countdown was lost, or they wait longer than
    a countdown holds), and put back deliveries left ``sending`` by a dead worker — a receiver
    de-duplicates on ``webhook-id``, so sending one again is safe, unlike a payment."""
    now = timezone.now()
    stale = now - timedelta(seconds=settings.WEBHOOKS_TIMEOUT_SECONDS + 60)
    abandoned = WebhookDelivery.objects.filter(status=Status.SENDING, claimed_at__lt=stale).update(
        status=Status.PENDING, next_attempt_at=now, claimed_at=None, updated_at=now
    )
    due = list(
        WebhookDelivery.objects.filter(status=Status.PENDING, next_attempt_at__lte=now)
        .order_by("next_attempt_at").values_list("pk", flat=True)[: settings.WEBHOOKS_SWEEP_BATCH]
    )
    for delivery_id in due:
        _publish(delivery_id)
    return {"enqueued": len(due), "abandoned": abandoned}
