"""Two gunicorn servers and two Celery workers, one PostgreSQL, one Redis: one truth.

- 100 payment starts spread over both servers answer 202; the two workers send every push
  exactly once (STK POSTs per phone at the fake Daraja), with exactly one OAuth call in total (the
  token and its refresh lock live in Redis), and every push ends ``pending``.
- 30 trials of the same success callback delivered by 16 threads spread over both servers:
  exactly one credit per trial."""

import time

import pytest
from django.conf import settings
from django.db import connection
from django.db.models import Count
from rest_framework_simplejwt.tokens import RefreshToken

from mpesa.models import StkPush
from tests.conftest import run_parallel, success_callback
from tests.reliability import stack
from tests.reliability.fake_daraja import FakeDaraja
from wallet.models import TokenPurchase, Wallet, WalletEntry

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def two_servers():
    if not stack.redis_ok():
        pytest.skip("Redis is not reachable on 127.0.0.1:6379")
    with stack.redis_db(), FakeDaraja([]) as fake:
        env = stack.stack_env(
            database=stack.database_url(connection.settings_dict), fake_url=fake.url,
            callback_url="https://pay.example.co.ke/api/daraja/callback", secret_key=settings.SECRET_KEY,
            encryption_keys=",".join(settings.FIELD_ENCRYPTION_KEYS),
        )
        ports = [stack.free_port(), stack.free_port()]
        processes = [stack.start_gunicorn(port, env) for port in ports]
        workers = [stack.start_worker(env, name=f"two-{i}") for i in range(2)]
        processes += workers
        try:
            for port in ports:
                stack.wait_http(port)
            stack.wait_worker_ready(*workers)
            yield ports, fake
        finally:
            stack.stop(processes)
            connection.close()


def _post(port, path, body, headers=None):
    return stack.request(port, "POST", path, body, headers)


def test_two_servers_one_truth(two_servers, make_owner):
    ports, fake = two_servers
    owner = make_owner()
    token = str(RefreshToken.for_user(owner.user).access_token)
    auth = {"Authorization": f"Bearer {token}"}

    # 100 pushes spread over both servers: one OAuth call in total.
    phones = iter(f"2547{i:08d}" for i in range(1000))
    turns = iter(range(100))
    statuses = run_parallel(100, lambda: _post(ports[next(turns) % 2], "/api/wallet-payment/initiate", {"phone": next(phones), "amount": 5}, auth)[0])
    assert statuses == [202] * 100

    # The two workers send each push exactly once and each one ends pending.
    deadline = time.monotonic() + 60
    while StkPush.objects.exclude(status="pending").exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert dict(StkPush.objects.values_list("status").annotate(n=Count("id"))) == {"pending": 100}
    assert fake.stk_by_phone == {f"2547{i:08d}": 1 for i in range(100)}
    assert fake.stk_calls == 100
    assert fake.oauth_calls == 1
    assert StkPush.objects.exclude(checkout_request_id__startswith="ws_CO_FAKE").count() == 0
    assert StkPush.objects.values("checkout_request_id").distinct().count() == 100

    # 30 trials of one success callback, 16 threads over both servers: one credit each.
    purchases = list(TokenPurchase.objects.select_related("push").order_by("id")[:30])
    for trial, purchase in enumerate(purchases):
        body = success_callback(purchase.push, receipt=f"TWO{trial:07d}")
        turn = iter(range(16))
        codes = run_parallel(16, lambda b=body, p=purchase.push, t=turn: _post(ports[next(t) % 2], f"/api/daraja/callback/{p.callback_token}/", b)[0])
        assert codes == [200] * 16
        assert WalletEntry.objects.filter(reference=f"purchase:{purchase.public_id}").count() == 1
    assert Wallet.objects.get(business=owner.business).balance == 30 * 5
