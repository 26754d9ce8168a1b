"""Publishing a Celery task message with one Redis command, for the payment start's hot path.

Why: ``task.delay()`` on the Redis broker spends ~1.3 ms of CPU per call on this machine (kombu's
producer pool, a new ``redis.Redis`` client per publish, exchange and queue declaration, the
publish-retry wrapper): a tenth of a payment start (bench/README.md). A payment start publishes
one message to a known queue, so it can build that message the way Celery does and ``LPUSH`` it.

What keeps it honest:

- The message is Celery's own: headers, properties and body come from
  ``app.amqp.create_task_message`` (protocol 2) and the body is serialised by kombu with the
  app's task serializer; the envelope is the one kombu's Redis transport stores (base64 body,
  ``delivery_info``, ``delivery_tag``, priority 0 → the queue's own list). A worker cannot tell it
  from a ``delay()`` (tests/payme/test_publish.py compares the two and has kombu consume it).
- Celery's publish signals fire as Celery fires them (``before_task_publish`` with the headers
  the receiver may extend, then ``after_task_publish``): django-structlog's receiver puts the
  request id in the headers that way, and the worker's log lines carry it.
- It is used only where it is that simple: a ``redis://`` broker, no eager mode, no task routes,
  no sent events or ``task_sent`` receivers, default priority, and not from inside a running task
  (where Celery links the message to its parent). Anywhere else ``publish`` says so and the
  caller uses ``delay()``.
- Errors are the caller's to handle, as with ``delay()`` (``RedisError``/``OSError``): the
  record stays ``created`` and the sweep enqueues it again. Unlike ``delay()`` there is no
  publish retry; the sweep is the retry.
"""

from __future__ import annotations

import base64
import uuid
from functools import cache

import redis
from celery import signals
from celery.local import Proxy
from django.conf import settings
from kombu.serialization import dumps as serialize
from kombu.utils.json import dumps as to_json


@cache
def _client(url: str) -> redis.Redis:
    # One pool per process and URL; redis-py's pool notices a fork and starts afresh. The
    # timeouts are the broker's (CELERY_BROKER_TRANSPORT_OPTIONS): a dead Redis must not hold a
    # web request for long.
    options = getattr(settings, "CELERY_BROKER_TRANSPORT_OPTIONS", {}) or {}
    return redis.Redis.from_url(
        url,
        socket_timeout=options.get("socket_timeout", 2),
        socket_connect_timeout=options.get("socket_connect_timeout", 2),
    )


def _direct_queue(app) -> str | None:
    """The Redis list a plain publish of ``app``'s tasks lands in, or None when this module
    must not shortcut Celery."""
    if app.conf.task_always_eager:  # tests switch it at run time
        return None
    if signals.task_sent.receivers:  # deprecated; Celery sends it with arguments we do not build
        return None
    if app.current_worker_task is not None:  # Celery would record the parent and root task ids
        return None
    return _configured_queue(app)


@cache
def _configured_queue(app) -> str | None:
    # Celery's configuration lookups cost more than the LPUSH; what they say is fixed at start-up.
    conf = app.conf
    url = conf.broker_url or ""
    if not url.startswith("redis://") or ";" in url:
        return None  # not plain Redis (TLS, sockets, a failover list of brokers): kombu's job
    if conf.task_routes or conf.task_send_sent_event or conf.task_queue_max_priority or conf.task_compression:
        return None
    if (conf.broker_transport_options or {}).get("global_keyprefix"):
        return None
    return conf.task_default_queue


@cache
def _message_settings(app) -> tuple[str, int, str]:
    conf = app.conf
    return conf.task_serializer, 2 if conf.task_default_delivery_mode in ("persistent", 2) else 1, conf.broker_url


def _message(task, args: tuple, queue: str, task_id: str | None) -> tuple[dict, dict, tuple]:
    app = task.app
    headers, properties, body, _ = app.amqp.create_task_message(
        task_id or str(uuid.uuid4()), task.name, args, {}, reply_to=app.thread_oid, ignore_result=task.ignore_result,
    )
    if signals.before_task_publish.receivers:
        # As celery.app.amqp's send_task_message: receivers may add headers (django-structlog's
        # request id) before the message is serialised.
        signals.before_task_publish.send(
            sender=task.name, body=body, exchange="", routing_key=queue, declare=[app.amqp.queues[queue]],
            headers=headers, properties=properties, retry_policy=None,
        )
    return headers, properties, body


def _envelope(app, queue: str, headers: dict, properties: dict, body: tuple) -> bytes:
    serializer, delivery_mode, _ = _message_settings(app)
    content_type, content_encoding, payload = serialize(body, serializer=serializer)
    if isinstance(payload, str):
        payload = payload.encode(content_encoding or "utf-8")
    return to_json({
        "body": base64.b64encode(payload).decode(),
        "content-encoding": content_encoding,
        "content-type": content_type,
        "headers": headers,
        "properties": {
            **properties,
            "delivery_mode": delivery_mode,
            "delivery_info": {"exchange": "", "routing_key": queue},
            "priority": 0,
            "body_encoding": "base64",
            "delivery_tag": str(uuid.uuid4()),
        },
    }).encode()


def message_for(task, args: tuple, *, task_id: str | None = None) -> tuple[str, bytes]:
    """(queue, the bytes kombu's Redis transport would LPUSH) for ``task.apply_async(args)``.
    Fires ``before_task_publish`` as Celery does."""
    queue = _direct_queue(task.app)
    if queue is None:
        raise ValueError("This broker configuration needs Celery's own publish")
    headers, properties, body = _message(task, args, queue, task_id)
    return queue, _envelope(task.app, queue, headers, properties, body)


def publish(task, args: tuple) -> bool:
    """Enqueue ``task(*args)`` with one LPUSH where that is exactly what Celery would do.
    Returns False (nothing sent) where it is not: the caller then uses ``task.delay``."""
    if isinstance(task, Proxy):  # a shared_task: resolve it once, not on every attribute
        task = task._get_current_object()
    app = task.app
    queue = _direct_queue(app)
    if queue is None:
        return False
    headers, properties, body = _message(task, args, queue, None)
    # execute_command: redis-py's lpush() wrapper inspects its arguments on every call.
    _client(_message_settings(app)[2]).execute_command("LPUSH", queue, _envelope(app, queue, headers, properties, body))
    if signals.after_task_publish.receivers:
        signals.after_task_publish.send(sender=task.name, body=body, headers=headers, exchange="", routing_key=queue)
    return True
