"""Crash drill (run by .ci/run after the suite; it restarts PostgreSQL, so it runs alone).

While unique success callbacks are posted by 8 threads, a gunicorn worker is killed with
SIGKILL every half second and PostgreSQL is restarted once in immediate mode. Then every callback
that did not get a 2xx is re-sent, as Daraja would. Nothing acknowledged may be lost, nothing
credited twice, and check_wallets must hold.

    .venv/bin/python -m tests.reliability.crash_drill [--callbacks 300]
"""

import argparse
import http.client
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PG = "postgres://postgres@127.0.0.1:5432"
DB = "payme_crash_drill"
PORT = 8821
ENV = {
    "DJANGO_SETTINGS_MODULE": "payme.settings", "DEBUG": "0", "SECRET_KEY": "crash-drill-" + "k" * 40, "ALLOWED_HOSTS": "*",
    "SECURE_SSL_REDIRECT": "0", "DATABASE_URL": f"{PG}/{DB}", "FIELD_ENCRYPTION_KEYS": "Qar_LhEW_wMWDUxb7LAiq1MwXL4kzMuUIYl5iIWc_5I=",
    "MPESA_ENV": "sandbox", "MPESA_BASE_URL": "http://127.0.0.1:9", "MPESA_CONSUMER_KEY": "k", "MPESA_CONSUMER_SECRET": "s",
    "MPESA_PASSKEY_WALLET": "p", "MPESA_CALLBACK_URL": "https://pay.example.co.ke/api/daraja/callback", "LOG_LEVEL": "CRITICAL",
}


def restart_postgres():
    version = sorted(os.listdir("/etc/postgresql"))[-1]
    subprocess.run(["pg_ctlcluster", "--skip-systemctl-redirect", version, "main", "restart", "-m", "immediate"], check=True, capture_output=True)


def wait_for_postgres(timeout=60):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if subprocess.run(["pg_isready", "-h", "127.0.0.1", "-q"]).returncode == 0:
            return
        time.sleep(0.5)
    raise SystemExit("PostgreSQL did not come back")


def post(body, token):
    try:
        conn = http.client.HTTPConnection("127.0.0.1", PORT, timeout=10)
        conn.request("POST", f"/api/daraja/callback/{token}/", body=body, headers={"Content-Type": "application/json"})
        status = conn.getresponse().status
        conn.close()
        return status
    except (OSError, http.client.HTTPException):
        return None


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--callbacks", type=int, default=300)
    args = parser.parse_args()
    if not os.path.isdir("/etc/postgresql") or os.geteuid() != 0:
        print("crash drill: SKIPPED (needs root and a local PostgreSQL cluster to restart)")
        return
    subprocess.run(["psql", f"{PG}/postgres", "-qc", f"DROP DATABASE IF EXISTS {DB}"], check=True, capture_output=True)
    subprocess.run(["psql", f"{PG}/postgres", "-qc", f"CREATE DATABASE {DB}"], check=True, capture_output=True)
    os.environ.update(ENV)
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    call_command("migrate", verbosity=0)
    from accounts.services import business_sign_up
    from mpesa.models import StkPush
    from tests.conftest import success_callback
    from wallet.models import TokenPurchase, WalletEntry
    from wallet.services import token_purchase_create

    owners = [business_sign_up(email=f"crash{i}@example.com", password="Str0ng-pass-123", full_name="C", business_name=f"Crash {i}", phone="254708374149") for i in range(5)]
    bodies = []
    for i in range(args.callbacks):
        purchase = token_purchase_create(business=owners[i % len(owners)].business, phone=f"2547{i:08d}", amount=3)
        StkPush.objects.filter(pk=purchase.push_id).update(status="pending", checkout_request_id=f"ws_CO_CRASH{i:06d}")
        push = StkPush.objects.get(pk=purchase.push_id)
        bodies.append((push.callback_token, json.dumps(success_callback(push, receipt=f"CR{i:08d}")).encode()))
    connection.close()

    server = subprocess.Popen([str(ROOT / ".venv/bin/gunicorn"), "payme.wsgi", "-b", f"127.0.0.1:{PORT}", "-w", "3", "--log-level", "critical"],
                              cwd=ROOT, env={**os.environ, **ENV})
    for _ in range(100):
        if post(b"{}", "0" * 64) is not None:
            break
        time.sleep(0.1)

    acked = {}
    queue = list(range(len(bodies)))
    lock = threading.Lock()
    stop = threading.Event()

    def sender():
        while True:
            with lock:
                if not queue:
                    return
                index = queue.pop()
            status = post(bodies[index][1], bodies[index][0])
            with lock:
                acked[index] = status

    def chaos():
        restarted = False
        rng = random.Random(20261122)
        started = time.time()
        while not stop.is_set():
            children = subprocess.run(["pgrep", "-P", str(server.pid)], capture_output=True, text=True).stdout.split()
            if children:
                os.kill(int(rng.choice(children)), signal.SIGKILL)
            if not restarted and time.time() - started > 1.0:
                restart_postgres()
                restarted = True
            time.sleep(0.5)

    chaos_thread = threading.Thread(target=chaos)
    chaos_thread.start()
    senders = [threading.Thread(target=sender) for _ in range(8)]
    for t in senders:
        t.start()
    for t in senders:
        t.join()
    stop.set()
    chaos_thread.join()
    wait_for_postgres()
    first_pass_ok = sum(1 for s in acked.values() if s and 200 <= s < 300)

    for _ in range(10):  # Daraja-style re-sends until everything is acknowledged
        missing = [i for i in range(len(bodies)) if not (acked.get(i) and 200 <= acked[i] < 300)]
        if not missing:
            break
        for i in missing:
            acked[i] = post(bodies[i][1], bodies[i][0])
        time.sleep(0.5)
    server.terminate()
    server.wait(10)

    missing = [i for i in range(len(bodies)) if not (acked.get(i) and 200 <= acked[i] < 300)]
    succeeded = StkPush.objects.filter(status="succeeded").count()
    credits = WalletEntry.objects.filter(cause="purchase").count()
    distinct = WalletEntry.objects.filter(cause="purchase").values("reference").distinct().count()
    call_command("check_wallets")
    print(f"crash drill: {len(bodies)} callbacks, {first_pass_ok} acknowledged during the chaos, "
          f"{len(bodies) - len(missing)} after re-sends; {succeeded} pushes succeeded, {credits} credits ({distinct} distinct)")
    assert not missing, f"{len(missing)} callbacks never acknowledged"
    assert succeeded == credits == distinct == len(bodies) == TokenPurchase.objects.filter(status="succeeded").count()
    connection.close()
    subprocess.run(["psql", f"{PG}/postgres", "-qc", f"DROP DATABASE IF EXISTS {DB}"], capture_output=True)
    print("crash drill: OK")


if __name__ == "__main__":
    main()
