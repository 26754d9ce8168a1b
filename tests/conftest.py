import json
from contextlib import contextmanager
from decimal import Decimal
from itertools import count

import pytest
import responses
from django.core.cache import cache
from django.db import connection
from django.test import TestCase
from rest_framework.test import APIClient

from accounts.models import Membership
from accounts.services import business_sign_up, member_add
from mpesa.models import StkPush
from payment_configs.services import payment_config_setup

DARAJA = "https://daraja.test"
SANDBOX_PASSKEY = "bfb279f9aa9bdbcf158e97dd71a467cd2e0c893059b10f78e6b72ada1ed2c919"
_seq = count(1)


@pytest.fixture(autouse=True)
def _clean_cache():
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def redis_cache():
    """A PaymeRedisCache on Redis database 8 (emptied before and after), or the test skips."""
    from payme.cache import PaymeRedisCache

    redis = PaymeRedisCache("redis://127.0.0.1:6379/8", {})
    try:
        redis.clear()
    except Exception:
        pytest.skip("Redis is not reachable on 127.0.0.1:6379")
    yield redis
    redis.clear()


@pytest.fixture(autouse=True)
def _daraja_base_url(settings):
    settings.MPESA_BASE_URL = DARAJA
    settings.MPESA_CALLBACK_URL = "https://payme.test/api/daraja/callback"


def pytest_collection_modifyitems(config, items):
    for item in items:
        if item.get_closest_marker("postgres") and connection.vendor != "postgresql":
            item.add_marker(pytest.mark.skip(reason="needs PostgreSQL row locks (run by .ci/run with DATABASE_URL)"))


@pytest.fixture
def make_owner(db):
    def make(email=None, business_name=None, phone="254708374149", password="Str0ng-pass-123"):
        n = next(_seq)
        return business_sign_up(
            email=email or f"owner{n}@example.com",
            password=password,
            full_name=f"Owner {n}",
            business_name=business_name or f"Business {n}",
            phone=phone,
        )

    return make


@pytest.fixture
def owner(make_owner):
    return make_owner()


@pytest.fixture
def cashier(owner):
    return member_add(
        business=owner.business, email=f"cashier{next(_seq)}@example.com", password="Str0ng-pass-123",
        full_name="Cashier", role=Membership.Role.CASHIER,
    )


def run_worker():
    """What a worker does with the tasks enqueued inside the block, once it ends: tasks are
    enqueued on commit, and a test's own transaction never commits, so they run here (eagerly,
    payme/settings_test.py). Use it around service calls that start a payment."""
    return TestCase.captureOnCommitCallbacks(execute=True)


@contextmanager
def tasks_through_the_broker():
    """Turn the unit tests' eager mode off: tasks go to the broker (Celery's in-memory one in
    tests) for a real worker, or wait there; whatever is left is purged at the end."""
    from payme.celery import app

    # With a namespace, Celery reads the Django-style key before the lowercase one.
    app.conf.CELERY_TASK_ALWAYS_EAGER = False
    try:
        yield app
    finally:
        app.conf.CELERY_TASK_ALWAYS_EAGER = True
        with app.connection_for_write() as conn:
            conn.default_channel.queue_purge(app.conf.task_default_queue)


class WorkerAPIClient(APIClient):
    """The API as a client sees it, with a worker that picks up what a request enqueued as soon
    as the request's transaction commits: the answer is what the request said (``pending``);
    the database afterwards holds what the worker did with Daraja's answer."""

    def request(self, **kwargs):
        with run_worker():
            return super().request(**kwargs)


def client_for(membership=None):
    client = WorkerAPIClient()
    if membership is not None:
        client.force_authenticate(user=membership.user)
    return client


@pytest.fixture
def api(owner):
    return client_for(owner)


@pytest.fixture
def anon():
    return APIClient()


def setup_till(business, *, passkey="till-passkey-secret", **extra):
    values = dict(method="till", shortcode="7654321", till_number="1234567", passkey=passkey, account_reference="SHOP1", account_name="Shop")
    values.update(extra)
    return payment_config_setup(business=business, **values)


def setup_paybill(business, *, passkey=SANDBOX_PASSKEY, **extra):
    values = dict(method="paybill", shortcode="174379", passkey=passkey, account_reference="ACC1", account_name="Paybill shop")
    values.update(extra)
    return payment_config_setup(business=business, **values)


@pytest.fixture
def daraja():
    """`responses` standing in for Daraja, with OAuth answering like the real thing."""
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        mock.add(responses.GET, f"{DARAJA}/oauth/v1/generate", json={"access_token": "tok-1", "expires_in": "3599"})
        yield mock


_checkout_seq = count(1)


def accept_push(mock, checkout_id=None):
    checkout_id = checkout_id or f"ws_CO_TEST{next(_checkout_seq):012d}"
    mock.add(
        responses.POST,
        f"{DARAJA}/mpesa/stkpush/v1/processrequest",
        json={
            "MerchantRequestID": "2654-4b64-97ff-b827b542881d3130",
            "CheckoutRequestID": checkout_id,
            "ResponseCode": "0",
            "ResponseDescription": "Success. Request accepted for processing",
            "CustomerMessage": "Success. Request accepted for processing",
        },
    )
    return checkout_id


def sent_body(mock, index=-1):
    pushes = [c for c in mock.calls if c.request.url.endswith("/processrequest")]
    return json.loads(pushes[index].request.body)


def success_callback(push: StkPush, *, receipt="NLJ7RT61SV", amount=None, phone=None, balance_item=True):
    items = [
        {"Name": "Amount", "Value": float(Decimal(amount if amount is not None else push.amount))},
        {"Name": "MpesaReceiptNumber", "Value": receipt},
        {"Name": "TransactionDate", "Value": 20251122102115},
        {"Name": "PhoneNumber", "Value": int(phone or push.phone)},
    ]
    if balance_item:
        items.insert(2, {"Name": "Balance"})
    return {
        "Body": {
            "stkCallback": {
                "MerchantRequestID": push.merchant_request_id or "29115-34620561-1",
                "CheckoutRequestID": push.checkout_request_id,
                "ResultCode": 0,
                "ResultDesc": "The service request is processed successfully.",
                "CallbackMetadata": {"Item": items},
            }
        }
    }


def failure_callback(push: StkPush, code=1032, desc="Request cancelled by user"):
    return {
        "Body": {
            "stkCallback": {
                "MerchantRequestID": push.merchant_request_id or "f1e2-4b95-a71d-b30d3cdbb7a7942864",
                "CheckoutRequestID": push.checkout_request_id,
                "ResultCode": code,
                "ResultDesc": desc,
            }
        }
    }


def post_callback(client, push, body, **extra):
    return client.post(
        f"/api/daraja/callback/{push.callback_token}/",
        data=json.dumps(body) if not isinstance(body, (bytes, str)) else body,
        content_type="application/json",
        **extra,
    )


def error_of(response):
    """The error object, after checking that it quotes the answer's X-Request-ID (issue #18); the
    id is then left out, so tests can compare the rest exactly."""
    body = response.json()
    assert set(body) == {"error"}, body
    error = dict(body["error"])
    assert error.pop("request_id", None) == response["X-Request-ID"], body
    return error


@pytest.fixture
def start_topup(owner, daraja):
    """Start a token purchase through the real service with Daraja accepting it."""
    from wallet.services import token_purchase_start

    def start(amount=100, phone="254708374149", business=None):
        accept_push(daraja)
        with run_worker():
            purchase = token_purchase_start(business=business or owner.business, phone=phone, amount=amount)
        purchase.push.refresh_from_db()
        return purchase

    return start


def run_parallel(count_, fn):
    """Run ``fn()`` in ``count_`` threads released together; returns their results (or
    exceptions) in completion order. Each thread closes its own DB connection."""
    import threading

    from django.db import connection as conn

    barrier = threading.Barrier(count_)
    results = []
    lock = threading.Lock()

    def worker():
        try:
            barrier.wait()
            try:
                value = fn()
            except Exception as exc:  # collected for the caller to assert on
                value = exc
            with lock:
                results.append(value)
        finally:
            conn.close()

    threads = [threading.Thread(target=worker) for _ in range(count_)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results
