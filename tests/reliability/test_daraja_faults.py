"""A replayable, seeded schedule of Daraja faults through the real HTTP stack and the worker's
send: the API answers 202 without waiting on Daraja; the worker records each fault as the state the
design names (``unknown`` when Daraja did not answer, ``failed`` with Daraja's code when it said no)
within the timeout budget; no payment is marked paid, and an expired token is refreshed once."""

import random
import time

import pytest

from mpesa.models import StkPush
from mpesa.services import stk_push_send
from tests.conftest import client_for, run_parallel, tasks_through_the_broker
from tests.reliability import stack
from tests.reliability.fake_daraja import FAULTS, FakeDaraja
from wallet.models import TokenPurchase, Wallet

SEED = 20261122
CONNECT, READ = 1.0, 1.0
# fault → (push status, Daraja's errorCode as recorded)
EXPECTED = {
    "timeout": ("unknown", ""),
    "reset": ("unknown", ""),
    "http500": ("unknown", ""),
    "http503_html": ("unknown", ""),
    "http429": ("unknown", ""),
    "malformed": ("unknown", ""),
    "html200": ("unknown", ""),
    "error200": ("failed", "500.003.02"),
    "trickle": ("unknown", ""),
    "redirect": ("unknown", ""),
}


@pytest.fixture
def fast_timeouts(settings):
    settings.MPESA_CONNECT_TIMEOUT = CONNECT
    settings.MPESA_READ_TIMEOUT = READ
    # The budgets are wall-clock: never beside the process stacks of the two-servers, brownout tests.
    with stack.exclusive():
        yield


@pytest.fixture
def queued_only():
    """Tasks go to the (in-memory) broker and wait there: no worker runs them behind our back."""
    with tasks_through_the_broker():
        yield


@pytest.mark.django_db
def test_seeded_fault_schedule_records_documented_states_within_budget(owner, settings, fast_timeouts):
    schedule = list(FAULTS) * 2
    random.Random(SEED).shuffle(schedule)
    with FakeDaraja(schedule) as fake:
        settings.MPESA_BASE_URL = fake.url
        api = client_for(owner)
        for index, fault in enumerate(schedule):
            started = time.monotonic()
            response = api.post("/api/wallet-payment/initiate", {"phone": f"25471{index:07d}", "amount": 10}, format="json")
            elapsed = time.monotonic() - started  # the answer and the worker's send together
            assert (response.status_code, response.json()["status"]) == (202, "pending"), fault
            push = TokenPurchase.objects.get(public_id=response.json()["id"]).push
            assert (push.status, push.daraja_error_code) == EXPECTED[fault], fault
            assert elapsed < CONNECT + READ + 1.5, (fault, elapsed)
        assert fake.oauth_calls == 1
    assert not StkPush.objects.filter(status="succeeded").exists()
    assert sorted(set(TokenPurchase.objects.values_list("status", flat=True))) == ["failed", "pending"]
    assert TokenPurchase.objects.filter(status="failed").first().reason == "Safaricom is limiting requests right now. Try again shortly."
    assert Wallet.objects.get(business=owner.business).balance == 0


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
        assert list(StkPush.objects.values_list("status", flat=True)) == ["pending", "pending"]


@pytest.mark.django_db(transaction=True)
def test_requests_never_wait_while_daraja_stalls_and_workers_settle_each_push_unknown(make_owner, settings, fast_timeouts, queued_only):
    owner = make_owner()
    with FakeDaraja(["timeout"] * 8) as fake:
        settings.MPESA_BASE_URL = fake.url
        phones = iter(f"25472{i:07d}" for i in range(100))
        results = run_parallel(8, lambda: client_for(owner).post("/api/wallet-payment/initiate", {"phone": next(phones), "amount": 10}, format="json").status_code)
        assert results == [202] * 8
        assert (fake.oauth_calls, fake.stk_calls) == (0, 0)  # no request called, let alone waited on, Daraja
        assert list(StkPush.objects.values_list("status", flat=True)) == ["created"] * 8
        ids = iter(StkPush.objects.values_list("pk", flat=True))
        started = time.monotonic()
        run_parallel(8, lambda: stk_push_send(push_id=next(ids)))
        assert time.monotonic() - started < CONNECT + READ + 3
        assert fake.stk_calls == 8
    assert list(StkPush.objects.values_list("status", flat=True)) == ["unknown"] * 8
