"""payme/publish.py: one LPUSH of Celery's own task message, indistinguishable from delay(),
publish signals included."""

import json
import uuid

import pytest
import redis
import structlog
from celery import Celery, signals
from kombu import Connection

from mpesa.tasks import stk_push_send_task
from payme import publish

REDIS_URL = "redis://127.0.0.1:6379/12"  # only this test's own queue key is written and removed


def _send(push_id):
    return None


@pytest.fixture(autouse=True)
def _no_broker_from_the_environment(monkeypatch):
    # The test settings export CELERY_BROKER_URL=memory://, which Celery prefers to ``broker=``.
    monkeypatch.delenv("CELERY_BROKER_URL", raising=False)


@pytest.fixture
def redis_app():
    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1)
    try:
        client.ping()
    except redis.RedisError:
        pytest.skip("Redis is not reachable on 127.0.0.1:6379")
    queue = f"payme-test-publish-{uuid.uuid4().hex}"
    app = Celery("publish-test", broker=REDIS_URL, set_as_current=False)
    app.conf.task_default_queue = queue
    app.conf.broker_connection_retry_on_startup = False
    calls = []

    @app.task(name="mpesa.stk_push_send", ignore_result=True)
    def send(push_id):
        calls.append(push_id)

    yield app, send, queue, client, calls
    client.delete(queue)


def _queued(client, queue):
    return [json.loads(raw) for raw in reversed(client.lrange(queue, 0, -1))]  # oldest first


def test_the_message_is_the_one_delay_writes(redis_app):
    app, send, queue, client, _ = redis_app
    send.delay(41)
    assert publish.publish(send, (41,)) is True
    by_celery, direct = _queued(client, queue)

    for message in (by_celery, direct):
        task_id = message["headers"]["id"]
        assert message["headers"]["root_id"] == task_id
        assert message["properties"]["correlation_id"] == task_id
        uuid.UUID(message["properties"]["delivery_tag"])
        for volatile in ("id", "root_id"):
            message["headers"].pop(volatile)
        for volatile in ("correlation_id", "delivery_tag"):
            message["properties"].pop(volatile)
    assert direct == by_celery
    assert direct["headers"]["task"] == "mpesa.stk_push_send"
    assert direct["headers"]["argsrepr"] == "(41,)"
    assert direct["properties"]["delivery_info"] == {"exchange": "", "routing_key": queue}


def test_a_consumer_receives_a_normal_task_message(redis_app):
    app, send, queue, client, calls = redis_app
    assert publish.publish(send, (7,)) is True

    with Connection(REDIS_URL) as conn:
        simple = conn.SimpleQueue(queue, no_ack=True)
        message = simple.get(timeout=5)
        simple.close()
    assert message.headers["task"] == "mpesa.stk_push_send"
    args, kwargs, embed = message.decode()
    assert (args, kwargs) == ([7], {})
    assert embed == {"callbacks": None, "errbacks": None, "chain": None, "chord": None}
    app.tasks[message.headers["task"]](*args, **kwargs)
    assert calls == [7]
    assert client.llen(queue) == 0


def test_eager_mode_and_other_brokers_use_celerys_own_publish(redis_app):
    # The unit tests run eager on memory://: publish declines and the caller uses delay().
    assert publish.publish(stk_push_send_task, (1,)) is False

    app, send, queue, client, _ = redis_app
    app.conf.task_always_eager = True
    assert publish.publish(send, (1,)) is False
    app.conf.task_always_eager = False

    routed = Celery("publish-test-routed", broker=REDIS_URL, set_as_current=False)
    routed.conf.task_routes = {"mpesa.*": {"queue": "elsewhere"}}
    routed_task = routed.task(name="mpesa.stk_push_send", ignore_result=True)(_send)
    assert publish.publish(routed_task, (1,)) is False

    memory = Celery("publish-test-memory", broker="memory://", set_as_current=False)
    memory_task = memory.task(name="mpesa.stk_push_send", ignore_result=True)(_send)
    assert publish.publish(memory_task, (1,)) is False
    with pytest.raises(ValueError):
        publish.message_for(memory_task, (1,))
    assert client.llen(queue) == 0


def test_a_broker_that_does_not_answer_raises_for_the_caller_to_log():
    down = Celery("publish-test-down", broker="redis://127.0.0.1:1/0", set_as_current=False)
    task = down.task(name="mpesa.stk_push_send", ignore_result=True)(_send)
    with pytest.raises(redis.RedisError):
        publish.publish(task, (1,))


def _without_volatile_ids(message):
    message = json.loads(json.dumps(message))
    for volatile in ("id", "root_id"):
        message["headers"].pop(volatile)
    for volatile in ("correlation_id", "delivery_tag"):
        message["properties"].pop(volatile)
    return message


def test_publish_signals_fire_as_celery_fires_them_and_carry_the_request_id(redis_app):
    """django-structlog's receiver (connected in every process of ours) puts the request id in the
    headers; a receiver of our own sees the same arguments from both paths."""
    app, send, queue, client, _ = redis_app
    seen = []

    def before(sender=None, **kwargs):
        seen.append(("before", sender, kwargs["exchange"], kwargs["routing_key"], [q.name for q in kwargs["declare"]],
                     kwargs["headers"]["task"], kwargs["properties"]["correlation_id"] == kwargs["headers"]["id"]))
        kwargs["headers"]["x-ours"] = "added by a receiver"

    def after(sender=None, **kwargs):
        seen.append(("after", sender, kwargs["exchange"], kwargs["routing_key"], kwargs["headers"]["x-ours"]))

    signals.before_task_publish.connect(before, weak=False)
    signals.after_task_publish.connect(after, weak=False)
    try:
        with structlog.contextvars.bound_contextvars(request_id="req-publish-1"):
            send.delay(5)
            by_celery_signals = list(seen)
            seen.clear()
            assert publish.publish(send, (5,)) is True
    finally:
        signals.before_task_publish.disconnect(before)
        signals.after_task_publish.disconnect(after)

    assert seen == by_celery_signals == [
        ("before", "mpesa.stk_push_send", "", queue, [queue], "mpesa.stk_push_send", True),
        ("after", "mpesa.stk_push_send", "", queue, "added by a receiver"),
    ]
    by_celery, direct = _queued(client, queue)
    assert _without_volatile_ids(direct) == _without_volatile_ids(by_celery)
    assert direct["headers"]["x-ours"] == "added by a receiver"
    assert direct["headers"]["__django_structlog__"]["request_id"] == "req-publish-1"


def test_inside_a_running_task_celery_links_the_message_itself(redis_app, monkeypatch):
    app, send, queue, client, _ = redis_app
    monkeypatch.setattr(type(app), "current_worker_task", property(lambda self: send))
    assert publish.publish(send, (1,)) is False
    assert client.llen(queue) == 0


def test_a_deprecated_task_sent_receiver_makes_it_step_aside(redis_app):
    app, send, queue, client, _ = redis_app

    def sent(**kwargs):
        pass

    signals.task_sent.connect(sent, weak=False)
    try:
        assert publish.publish(send, (1,)) is False
    finally:
        signals.task_sent.disconnect(sent)
    assert client.llen(queue) == 0
