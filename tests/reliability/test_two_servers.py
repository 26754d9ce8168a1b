"""Two gunicorn servers on different ports, one PostgreSQL, one Redis: one truth.

- 30 trials of the same success callback delivered by 16 threads spread over both servers:
  exactly one credit per trial.
- 100 STK pushes spread over both servers: exactly one OAuth call in total (the token and its
  refresh lock live in Redis)."""

import http.client
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection
from rest_framework_simplejwt.tokens import RefreshToken

from tests.conftest import run_parallel, success_callback
from tests.reliability.fake_daraja import FakeDaraja
from wallet.models import TokenPurchase, Wallet, WalletEntry

ROOT = Path(__file__).resolve().parents[2]
REDIS_DB = 9
pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def _redis_ok():
    try:
        import redis

        redis.Redis(host="127.0.0.1", port=6379, db=REDIS_DB, socket_timeout=1).flushdb()
        return True
    except Exception:
        return False


def _free_port():
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def two_servers():
    if not _redis_ok():
        pytest.skip("Redis is not reachable on 127.0.0.1:6379")
    db = connection.settings_dict
    database_url = f"postgres://{db['USER'] or 'postgres'}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
    with FakeDaraja([]) as fake:
        env = {
            **{k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG")},
            "DJANGO_SETTINGS_MODULE": "payme.settings", "DEBUG": "0", "SECRET_KEY": settings.SECRET_KEY,
            "ALLOWED_HOSTS": "*", "SECURE_SSL_REDIRECT": "0", "DATABASE_URL": database_url,
            "CACHE_URL": f"redis://127.0.0.1:6379/{REDIS_DB}", "FIELD_ENCRYPTION_KEYS": os.environ["FIELD_ENCRYPTION_KEYS"],
            "MPESA_ENV": "sandbox", "MPESA_BASE_URL": fake.url, "MPESA_CONSUMER_KEY": "shared-key", "MPESA_CONSUMER_SECRET": "shared-secret",
            "MPESA_PASSKEY_WALLET": os.environ.get("MPESA_PASSKEY_WALLET", "") or "simulator-wallet-passkey-650880",
            "MPESA_CALLBACK_URL": "https://pay.example.co.ke/api/daraja/callback", "PAYMENT_THROTTLE_RATE": "100000/min",
            "LOG_LEVEL": "WARNING", "CONN_MAX_AGE": "0",
        }
        ports = [_free_port(), _free_port()]
        servers = [
            subprocess.Popen([str(Path(sys.executable).parent / "gunicorn"), "payme.wsgi", "-b", f"127.0.0.1:{port}", "-w", "2",
                              "-k", "gthread", "--threads", "4", "--log-level", "warning"], cwd=ROOT, env=env)
            for port in ports
        ]
        try:
            for port in ports:
                for _ in range(100):
                    try:
                        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
                        conn.request("GET", "/healthz")
                        if conn.getresponse().status == 200:
                            break
                    except OSError:
                        time.sleep(0.1)
            yield ports, fake
        finally:
            for server in servers:
                server.terminate()
            for server in servers:
                server.wait(10)
            connection.close()


def _post(port, path, body, headers=None):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request("POST", path, body=json.dumps(body), headers={"Content-Type": "application/json", **(headers or {})})
    response = conn.getresponse()
    data = response.read()
    conn.close()
    return response.status, data


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
    assert fake.oauth_calls == 1

    # 30 trials of one success callback, 16 threads over both servers: one credit each.
    purchases = list(TokenPurchase.objects.select_related("push").order_by("id")[:30])
    for trial, purchase in enumerate(purchases):
        body = success_callback(purchase.push, receipt=f"TWO{trial:07d}")
        turn = iter(range(16))
        codes = run_parallel(16, lambda b=body, p=purchase.push, t=turn: _post(ports[next(t) % 2], f"/api/daraja/callback/{p.callback_token}/", b)[0])
        assert codes == [200] * 16
        assert WalletEntry.objects.filter(reference=f"purchase:{purchase.public_id}").count() == 1
    assert Wallet.objects.get(business=owner.business).balance == 30 * 5
