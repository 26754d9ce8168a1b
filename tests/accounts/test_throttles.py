"""accounts/throttles.py: the same sliding window on DRF's cache code (local memory) and on the
one-round-trip Redis script, and the payment throttle through the API."""

import threading
from types import SimpleNamespace

import pytest
from django.core.cache.backends.locmem import LocMemCache

from accounts.throttles import AuthRateThrottle, PaymentRateThrottle
from tests.conftest import accept_push, client_for, error_of
from wallet.models import TokenPurchase


@pytest.fixture(params=["locmem", "redis"])
def backend(request):
    if request.param == "redis":
        yield request.getfixturevalue("redis_cache")
        return
    local = LocMemCache("throttle-test", {})  # local-memory caches of one name share their data
    local.clear()
    yield local
    local.clear()


def _request(business_pk):
    return SimpleNamespace(tenant=SimpleNamespace(business=SimpleNamespace(pk=business_pk)))


def _check(cache, settings, at, business_pk=1, rate="3/min"):
    settings.PAYMENT_THROTTLE_RATE = rate
    throttle = PaymentRateThrottle()
    throttle.cache = cache
    throttle.timer = lambda: at
    return throttle.allow_request(_request(business_pk), view=None), throttle


def test_at_most_the_rate_in_any_period_and_the_wait_until_the_oldest_leaves(backend, settings):
    t0 = 1_800_000_000.25
    assert [_check(backend, settings, t0 + i)[0] for i in range(3)] == [True, True, True]
    refused, throttle = _check(backend, settings, t0 + 10)
    assert refused is False
    assert throttle.wait() == pytest.approx(50.0)  # the request at t0 leaves the window at t0 + 60
    assert _check(backend, settings, t0 + 59.9)[0] is False
    # At t0 + 60 the first request has left the window (DRF drops entries <= now - period).
    assert _check(backend, settings, t0 + 60)[0] is True
    assert _check(backend, settings, t0 + 60.5)[0] is False
    assert _check(backend, settings, t0 + 61)[0] is True  # the one at t0 + 1 left
    # Refused requests take no slot: the window holds t0+2, t0+60 and t0+61 until t0+62.
    refused, throttle = _check(backend, settings, t0 + 61.5)
    assert refused is False and throttle.wait() == pytest.approx(0.5)
    assert _check(backend, settings, t0 + 62)[0] is True


def test_each_business_has_its_own_window(backend, settings):
    t0 = 1_800_000_000.0
    assert [_check(backend, settings, t0, business_pk=7, rate="1/min")[0] for _ in range(2)] == [True, False]
    assert _check(backend, settings, t0, business_pk=8, rate="1/min")[0] is True


def test_a_lower_rate_than_the_window_holds_refuses_without_a_wait(backend, settings):
    t0 = 1_800_000_000.0
    for i in range(3):
        _check(backend, settings, t0 + i, rate="5/min")
    refused, throttle = _check(backend, settings, t0 + 3, rate="2/min")
    assert refused is False
    assert throttle.wait() is None  # as DRF: more requests in the window than the new rate allows


def test_a_rate_of_zero_refuses_everything_for_a_whole_period(backend, settings):
    refused, throttle = _check(backend, settings, 1_800_000_000.0, rate="0/min")
    assert refused is False and throttle.wait() == pytest.approx(60.0)


def test_auth_throttle_counts_per_client_ip(backend, settings):
    settings.AUTH_THROTTLE_RATE = "1/min"

    def check(ip):
        throttle = AuthRateThrottle()
        throttle.cache = backend
        request = SimpleNamespace(META={"REMOTE_ADDR": ip}, headers={})
        return throttle.allow_request(request, view=None)

    assert [check("10.0.0.1"), check("10.0.0.1"), check("10.0.0.2")] == [True, False, True]


def test_on_redis_concurrent_requests_never_share_the_last_slot(redis_cache, settings):
    """DRF's read-then-write lets two requests take one slot; the script cannot."""
    cache = redis_cache
    settings.PAYMENT_THROTTLE_RATE = "5/min"
    barrier = threading.Barrier(20)
    results = []

    def one():
        throttle = PaymentRateThrottle()
        throttle.cache = cache
        barrier.wait()
        results.append(throttle.allow_request(_request(3), view=None))

    threads = [threading.Thread(target=one) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == [False] * 15 + [True] * 5


def test_the_payment_throttle_answers_429_and_starts_nothing(owner, make_owner, daraja, settings):
    settings.PAYMENT_THROTTLE_RATE = "2/min"
    client = client_for(owner)
    for phone in ("254708374141", "254708374142"):
        accept_push(daraja)
        assert client.post("/api/wallet-payment/initiate", {"phone": phone, "amount": 10}, format="json").status_code == 202

    refused = client.post("/api/wallet-payment/initiate", {"phone": "254708374143", "amount": 10}, format="json")
    assert refused.status_code == 429
    assert error_of(refused) == {"code": "throttled", "message": "Too many requests. Try again later.", "fields": {}}
    assert 0 < int(refused["Retry-After"]) <= 60
    assert sorted(TokenPurchase.objects.values_list("phone", flat=True)) == ["254708374141", "254708374142"]

    other = make_owner()
    accept_push(daraja)
    assert client_for(other).post("/api/wallet-payment/initiate", {"phone": "254708374144", "amount": 10}, format="json").status_code == 202
