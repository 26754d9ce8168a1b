"""Crash drill (run by .ci/run after the suite; it restarts PostgreSQL, so it runs alone).

Phase 1, callbacks: while unique success callbacks are posted by 8 threads, a gunicorn worker is
killed with SIGKILL every half second and PostgreSQL is restarted once in immediate mode. Then
every callback that did not get a 2xx is re-sent, as Daraja would. Nothing acknowledged may be
lost, nothing credited twice, and check_wallets must hold.

Phase 2, workers (needs Redis on 127.0.0.1:6379, db 10): payment starts go through gunicorn to two
Celery workers (thread pools) that send them to a fake Daraja answering slowly; a worker process
is SIGKILLed in the middle of sends and restarted, as a supervisor would, several times. Beat runs
the sweep and reconciliation with short MPESA_* intervals. No push may reach Daraja twice (STK
POSTs per phone at the fake ≤ 1) and none may be lost: every one ends final — succeeded by the
callback the fake posts for each push it accepted, or expired if it never reached Daraja.

    .venv/bin/python -m tests.reliability.crash_drill [--callbacks 300] [--starts 60] [--kills 5] [--only-workers]

CRASH_DRILL_DB names its database (default payme_crash_drill; dropped and created afresh).
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
DB = os.environ.get("CRASH_DRILL_DB", "payme_crash_drill")
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
    parser.add_argument("--starts", type=int, default=60)
    parser.add_argument("--kills", type=int, default=5)
    parser.add_argument("--only-workers", action="store_true", help="phase 2 only (no PostgreSQL restart)")
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
    if not args.only_workers:
        callback_phase(args)
    connection.close()
    worker_phase(starts=args.starts, kills=args.kills)
    connection.close()
    subprocess.run(["psql", f"{PG}/postgres", "-qc", f"DROP DATABASE IF EXISTS {DB}"], capture_output=True)
    print("crash drill: OK")


def callback_phase(args):
    """Phase 1 (see the module doc)."""
    from django.core.management import call_command
    from django.db import connection

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


WORKER_TIMINGS = {
    "MPESA_CONNECT_TIMEOUT": 2, "MPESA_READ_TIMEOUT": 10, "MPESA_SEND_SWEEP_AFTER_SECONDS": 3,
    "MPESA_SENDING_STALE_SECONDS": 4, "MPESA_RECONCILE_AFTER_SECONDS": 2, "MPESA_QUERY_INTERVAL_SECONDS": 2,
    "MPESA_PENDING_EXPIRY_SECONDS": 20, "MPESA_SWEEP_INTERVAL_SECONDS": 1, "MPESA_RECONCILE_INTERVAL_SECONDS": 1,
}


def worker_phase(*, starts, kills):
    """SIGKILL Celery workers mid-send; nothing sent twice, nothing lost (see the module doc)."""
    import tempfile

    from django.core.management import call_command
    from django.db.models import Count
    from rest_framework_simplejwt.tokens import RefreshToken

    from accounts.services import business_sign_up
    from mpesa.models import StkPush
    from tests.reliability import stack
    from tests.reliability.fake_daraja import FakeDaraja
    from wallet.models import TokenPurchase, Wallet

    if not stack.redis_ok():
        print("crash drill (workers): SKIPPED (Redis is not reachable on 127.0.0.1:6379)")
        return
    owner = business_sign_up(email="crash-workers@example.com", password="Str0ng-pass-123", full_name="W",
                             business_name="Crash workers", phone="254708374149")
    auth = {"Authorization": f"Bearer {RefreshToken.for_user(owner.user).access_token}"}
    before = set(StkPush.objects.values_list("pk", flat=True))
    port = stack.free_port()
    with stack.redis_db(), FakeDaraja([], delay=1.5, post_callbacks=True, callback_delay=0.3) as fake, \
            tempfile.TemporaryDirectory() as run_dir:
        env = stack.stack_env(database=ENV["DATABASE_URL"], fake_url=fake.url, callback_url=f"http://127.0.0.1:{port}/api/daraja/callback",
                              secret_key=ENV["SECRET_KEY"], encryption_keys=ENV["FIELD_ENCRYPTION_KEYS"], **WORKER_TIMINGS)
        web = stack.start_gunicorn(port, env, workers=2, threads=4)
        beat = stack.start_beat(env, schedule=f"{run_dir}/beat-schedule")
        workers = [stack.start_worker(env, name=f"drill-{i}") for i in range(2)]
        killed = []
        try:
            stack.wait_http(port)
            stack.wait_worker_ready(*workers)
            phones = iter(f"2547970{i:05d}" for i in range(starts))
            answers = []
            lock = threading.Lock()

            def starter():
                while True:
                    with lock:
                        phone = next(phones, None)
                    if phone is None:
                        return
                    answers.append(stack.request(port, "POST", "/api/wallet-payment/initiate", {"phone": phone, "amount": 4}, auth)[0])

            threads = [threading.Thread(target=starter) for _ in range(4)]
            for t in threads:
                t.start()
            rng = random.Random(20261201)
            for _ in range(kills):
                # Wait until sends are in flight (the fake takes 1.5 s to answer), then kill a worker
                # that is up (a restarted one may still be starting) in the middle of them.
                deadline = time.monotonic() + 15
                while StkPush.objects.filter(status="sending").count() < 2 and time.monotonic() < deadline:
                    time.sleep(0.05)
                time.sleep(rng.uniform(0.1, 0.6))
                up = [i for i, proc in enumerate(workers) if b" ready." in proc.log_path.read_bytes()]
                slot = rng.choice(up or range(len(workers)))
                in_flight = StkPush.objects.filter(status="sending").count()
                os.kill(workers[slot].pid, signal.SIGKILL)
                workers[slot].wait()
                killed.append(in_flight)
                workers[slot] = stack.start_worker(env, name=f"drill-{slot}-{len(killed)}")  # the supervisor restarts it
            for t in threads:
                t.join()
            assert answers == [202] * starts, answers

            deadline = time.monotonic() + 60
            mine = StkPush.objects.exclude(pk__in=before)
            while mine.filter(status__in=StkPush.OPEN_STATUSES).exists() and time.monotonic() < deadline:
                time.sleep(0.5)
        finally:
            stack.stop([web, beat, *workers])
        statuses = dict(mine.values_list("status").annotate(n=Count("id")))
        accepted_phones = {body["PhoneNumber"] for body in fake.accepted.values()}
        succeeded_phones = set(mine.filter(status="succeeded").values_list("phone", flat=True))
        twice = {phone: n for phone, n in fake.stk_by_phone.items() if n > 1}
        credited = TokenPurchase.objects.filter(business=owner.business, status="succeeded").count()
        print(f"crash drill (workers): {starts} starts, {len(killed)} worker kills with {sum(killed)} sends in flight "
              f"({sum(1 for n in killed if n)} kills mid-send); "
              f"{len(fake.stk_by_phone)} pushes reached Daraja, {len(twice)} twice; final states {statuses}; "
              f"{credited} purchases credited")
        assert any(killed), "no kill landed in the middle of sends"
        assert not twice, f"sent twice: {twice}"
        assert sum(statuses.values()) == starts
        assert not set(statuses) & set(StkPush.OPEN_STATUSES), f"not settled: {statuses}"
        assert set(statuses) <= {"succeeded", "expired"}, statuses
        assert succeeded_phones == accepted_phones, (succeeded_phones ^ accepted_phones)
        assert Wallet.objects.get(business=owner.business).balance == 4 * credited == 4 * len(succeeded_phones)
        call_command("check_wallets")


if __name__ == "__main__":
    main()
