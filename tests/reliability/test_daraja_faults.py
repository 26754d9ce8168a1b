"""A replayable, seeded schedule of Daraja faults through the real HTTP stack: every API answer is
a documented error within the timeout budget, no payment is marked paid, no worker is stuck, and
an expired token is refreshed exactly once."""

import random
import time

import pytest

from mpesa.models import StkPush
from tests.conftest import client_for
from tests.reliability.fake_daraja import FAULTS, FakeDaraja
from wallet.models import TokenPurchase, Wallet

SEED = 20261122
CONNECT, READ = 1.0, 1.0
EXPECTED = {
    "timeout": (503, "daraja_unavailable"),
    "reset": (503, "daraja_unavailable"),
    "http500": (503, "daraja_unavailable"),
    "http503_html": (503, "daraja_unavailable"),
    "http429": (503, "daraja_unavailable"),
    "malformed": (503, "daraja_unavailable"),
    "html200": (503, "daraja_unavailable"),
    "error200": (502, "daraja_rejected"),
    "trickle": (503, "daraja_unavailable"),
    "redirect": (503, "daraja_unavailable"),
}


@pytest.fixture
def fast_timeouts(settings):
    settings.MPESA_CONNECT_TIMEOUT = CONNECT
    settings.MPESA_READ_TIMEOUT = READ


@pytest.mark.django_db
def test_seeded_fault_schedule_gives_documented_errors_within_budget(owner, settings, fast_timeouts):
    schedule = list(FAULTS) * 2
    random.Random(SEED).shuffle(schedule)
    with FakeDaraja(schedule) as fake:
        settings.MPESA_BASE_URL = fake.url
        api = client_for(owner)
        for index, fault in enumerate(schedule):
            started = time.monotonic()
            response = api.post("/api/wallet-payment/initiate", {"phone": f"25471{index:07d}", "amount": 10}, format="json")
            elapsed = time.monotonic() - started
            status, code = EXPECTED[fault]
            assert (response.status_code, response.json()["error"]["code"]) == (status, code), fault
            assert elapsed < CONNECT + READ + 1.5, (fault, elapsed)
            assert response.json()["error"]["id"]
        assert fake.oauth_calls == 1
    assert not StkPush.objects.filter(status="succeeded").exists()
    assert not TokenPurchase.objects.filter(status="succeeded").exists()
    assert Wallet.objects.get(business=owner.business).balance == 0
    statuses = sorted(set(StkPush.objects.values_list("status", flat=True)))
    assert statuses == ["failed", "unknown"]


@pytest.mark.django_db
def test_an_expired_token_is_refreshed_exactly_once(owner, settings, fast_timeouts):
    with FakeDaraja(["expired_token"]) as fake:
        settings.MPESA_BASE_URL = fake.url
        api = client_for(owner)
        first = api.post("/api/wallet-payment/initiate", {"phone": "254712000001", "amount": 10}, format="json")
        second = api.post("/api/wallet-payment/initiate", {"phone": "254712000002", "amount": 10}, format="json")
        assert first.status_code == second.status_code == 202
        assert fake.oauth_calls == 2
        assert fake.stk_calls == 3


@pytest.mark.django_db(transaction=True)
def test_no_worker_is_stuck_while_daraja_stalls(make_owner, settings, fast_timeouts):
    from tests.conftest import run_parallel

    owner = make_owner()
    with FakeDaraja(["timeout"] * 8) as fake:
        settings.MPESA_BASE_URL = fake.url
        phones = iter(f"25472{i:07d}" for i in range(100))
        started = time.monotonic()
        results = run_parallel(8, lambda: client_for(owner).post("/api/wallet-payment/initiate", {"phone": next(phones), "amount": 10}, format="json").status_code)
        assert results == [503] * 8
        assert time.monotonic() - started < CONNECT + READ + 3
