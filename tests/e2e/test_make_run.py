"""`make run` works with nobody running anything: `manage.py runstack` (web + Celery worker + beat
on the embedded broker) settles every kind of sale on its own, and Ctrl-C stops all of it.

Its own run directory (broker folder, beat schedule) and SQLite file, a free port, short intervals.
Over HTTP as the demo owner:
- 0711000005 (the simulator posts no callback) ends ``paid`` by reconciliation on beat;
- 0711000007 ends ``expired`` and then ``paid`` by its late callback;
- a normal number ends ``paid`` by its callback.
Then SIGINT to runstack: web (runserver and its autoreload child), worker and beat all exit.
"""

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
import requests

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.e2e


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _descendants(pid):
    found, todo = [], [pid]
    while todo:
        parent = todo.pop()
        children = subprocess.run(["pgrep", "-P", str(parent)], capture_output=True, text=True).stdout.split()
        for child in map(int, children):
            found.append(child)
            todo.append(child)
    return found


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie has exited; only its parent has not collected it yet.
    with open(f"/proc/{pid}/stat") as stat:
        return stat.read().rsplit(")", 1)[1].split()[0] != "Z"


@pytest.fixture
def stack(tmp_path):
    port = _free_port()
    env = {
        **{k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "TMPDIR")},
        "DJANGO_SETTINGS_MODULE": "payme.settings", "DEBUG": "1", "MPESA_ENV": "simulator",
        "PAYME_RUN_DIR": str(tmp_path / "run"), "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "MPESA_CALLBACK_URL": f"http://127.0.0.1:{port}/api/daraja/callback", "LOG_LEVEL": "WARNING",
        "SIMULATOR_CALLBACK_DELAY": "1", "SIMULATOR_LATE_CALLBACK_DELAY": "14",
        "MPESA_RECONCILE_AFTER_SECONDS": "2", "MPESA_RECONCILE_INTERVAL_SECONDS": "1", "MPESA_QUERY_INTERVAL_SECONDS": "1",
        "MPESA_PENDING_EXPIRY_SECONDS": "7", "MPESA_SWEEP_INTERVAL_SECONDS": "1",
    }
    for command in (["migrate", "--noinput", "-v", "0"], ["seed_demo"]):
        subprocess.run([sys.executable, "manage.py", *command], cwd=ROOT, env=env, check=True, capture_output=True, timeout=120)
    log = open(tmp_path / "runstack.log", "wb")
    proc = subprocess.Popen([sys.executable, "manage.py", "runstack", f"127.0.0.1:{port}"], cwd=ROOT, env=env,
                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if requests.get(f"{base}/healthz", timeout=2).status_code == 200:
                    break
            except requests.RequestException:
                pass
            assert proc.poll() is None, (tmp_path / "runstack.log").read_text()[-3000:]
            assert time.monotonic() < deadline, "runstack did not serve within 60 s"
            time.sleep(0.2)
        yield proc, base, tmp_path / "runstack.log"
    finally:
        if proc.poll() is None:  # the test failed before its own SIGINT: leave nothing behind
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        log.close()


def test_make_run_settles_everything_and_ctrl_c_stops_it_all(stack):
    proc, base, log = stack
    session = requests.Session()
    signed_in = session.post(f"{base}/api/auth/sign-in", json={"email": "owner@demo.payme.local", "password": "Demo-owner-2026"}, timeout=10)
    assert signed_in.status_code == 200, signed_in.text
    session.headers["Authorization"] = f"Bearer {signed_in.json()['access']}"

    sales = {}
    for phone in ("0711000005", "0711000007", "0722000123"):
        answer = session.post(f"{base}/api/sales/payment", json={"phone": phone, "amount": 10},
                              headers={"Idempotency-Key": str(uuid.uuid4())}, timeout=10)
        assert answer.status_code == 202, answer.text
        assert answer.json()["status"] == "pending"
        sales[phone] = answer.json()["id"]

    seen = {phone: [] for phone in sales}
    deadline = time.monotonic() + 45
    while time.monotonic() < deadline:
        for phone, sale_id in sales.items():
            status = session.get(f"{base}/api/sales/{sale_id}", timeout=10).json()["status"]
            if not seen[phone] or seen[phone][-1] != status:
                seen[phone].append(status)
        if all(history[-1] == "paid" for history in seen.values()):
            break
        time.sleep(0.3)
    logged = log.read_text()[-3000:]
    assert seen["0722000123"][-1] == "paid", (seen, logged)
    assert seen["0711000005"][-1] == "paid", (seen, logged)  # no callback: settled by the STK query on beat
    assert "expired" not in seen["0711000005"], seen
    assert seen["0711000007"][-2:] == ["expired", "paid"], (seen, logged)  # expired, then its late callback paid it
    receipts = {phone: session.get(f"{base}/api/sales/{sale_id}", timeout=10).json() for phone, sale_id in sales.items()}
    assert receipts["0711000007"]["mpesa_receipt"]
    assert receipts["0722000123"]["mpesa_receipt"]

    # The paybill demo: its C2B URLs get registered by the worker, and the printed open invoice is
    # paid from the simulator's phone menu, as the README's walkthrough does it.
    hardware = requests.Session()
    signed_in = hardware.post(f"{base}/api/auth/sign-in", json={"email": "owner@hardware.payme.local", "password": "Demo-hardware-2026"}, timeout=10)
    assert signed_in.status_code == 200, signed_in.text
    hardware.headers["Authorization"] = f"Bearer {signed_in.json()['access']}"
    deadline = time.monotonic() + 30
    while (registration := hardware.get(f"{base}/api/payment-config/c2b", timeout=10).json())["status"] in ("queued", "sending"):
        assert time.monotonic() < deadline, registration
        time.sleep(0.3)
    assert registration["status"] == "registered", (registration, log.read_text()[-3000:])
    invoices = hardware.get(f"{base}/api/sales", timeout=10).json()["results"]
    [open_invoice] = [sale for sale in invoices if sale["status"] == "awaiting_payment"]
    assert open_invoice["amount"] == 1200
    token = requests.get(f"{base}/simulator/daraja/oauth/v1/generate?grant_type=client_credentials",
                         auth=("sandbox-consumer-key", "sandbox-consumer-secret"), timeout=10).json()["access_token"]
    paid = requests.post(f"{base}/simulator/daraja/mpesa/c2b/v2/simulate", headers={"Authorization": f"Bearer {token}"}, json={
        "ShortCode": "174379", "CommandID": "CustomerPayBillOnline", "Amount": 1200, "Msisdn": "254708374149",
        "BillRefNumber": open_invoice["account_number"]}, timeout=10)
    assert paid.json()["ResponseCode"] == "0", paid.text
    deadline = time.monotonic() + 15
    while (sale := hardware.get(f"{base}/api/sales/{open_invoice['id']}", timeout=10).json())["status"] == "awaiting_payment":
        assert time.monotonic() < deadline, sale
        time.sleep(0.3)
    assert sale["status"] == "paid" and sale["mpesa_receipt"], sale

    # Ctrl-C: runstack stops web (runserver and its autoreload child), worker and beat.
    tree = _descendants(proc.pid)
    assert len(tree) >= 3, tree
    proc.send_signal(signal.SIGINT)
    assert proc.wait(30) == 0, log.read_text()[-3000:]
    deadline = time.monotonic() + 10
    while any(_alive(pid) for pid in tree) and time.monotonic() < deadline:
        time.sleep(0.2)
    orphans = [pid for pid in tree if _alive(pid)]
    assert orphans == [], [open(f"/proc/{pid}/cmdline").read().replace("\0", " ") for pid in orphans]
