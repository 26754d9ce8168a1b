"""A real Prometheus (Debian's `prometheus` package) scrapes /metrics of a real deployment — two
gunicorn worker processes, a Celery worker, the simulator — and answers a query: once a sale is
paid, the `sale` succeeded counter has risen by one, summed over the processes.

The stack runs as separate processes on its own SQLite file, file cache and filesystem broker in a
temporary directory (no PostgreSQL, Redis or test database needed), with PROMETHEUS_MULTIPROC_DIR
shared as in production. Skipped when no prometheus binary is found (.ci/run provides one;
PROMETHEUS_BIN names another)."""

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

pytestmark = [pytest.mark.e2e]

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "scrape-token-e2e-51c0"
OWNER = {"email": "otieno@example.com", "password": "Str0ng-pass-123", "full_name": "Otieno", "business_name": "Otieno Parking",
         "phone": "0708374149"}


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_for(url, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if requests.get(url, timeout=2).status_code < 500:
                return
        except requests.RequestException:
            pass
        time.sleep(0.3)
    raise AssertionError(f"{url} did not come up")


def _call(method, url, **kwargs):
    # A new connection each time (no session): gunicorn's two workers both serve.
    return requests.request(method, url, timeout=15, headers={"Connection": "close", **kwargs.pop("headers", {})}, **kwargs)


@pytest.fixture
def stack(tmp_path):
    prometheus = os.environ.get("PROMETHEUS_BIN") or shutil.which("prometheus")
    if not prometheus:
        pytest.skip("prometheus is not installed (Debian: apt-get install prometheus; or set PROMETHEUS_BIN)")
    web_port, prom_port = _free_port(), _free_port()
    base = f"http://127.0.0.1:{web_port}"
    metrics_dir = tmp_path / "metrics"
    metrics_dir.mkdir()
    env = {
        **{k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG")},
        "DJANGO_SETTINGS_MODULE": "payme.settings", "DEBUG": "0", "SECRET_KEY": "e2e-scrape-secret-key-0123456789abcdefghij",
        "ALLOWED_HOSTS": "*", "SECURE_SSL_REDIRECT": "0", "FIELD_ENCRYPTION_KEYS": "Qar_LhEW_wMWDUxb7LAiq1MwXL4kzMuUIYl5iIWc_5I=",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'payme.sqlite3'}", "CACHE_URL": f"filecache://{tmp_path / 'cache'}",
        "CELERY_BROKER_URL": "embedded://", "CELERY_BROKER_DIR": str(tmp_path / "broker"), "PAYME_RUN_DIR": str(tmp_path / "run"),
        "MPESA_ENV": "simulator", "MPESA_CALLBACK_URL": f"{base}/api/daraja/callback", "SIMULATOR_CALLBACK_DELAY": "0.3",
        "METRICS_TOKEN": TOKEN, "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir), "LOG_LEVEL": "WARNING", "LOG_FORMAT": "json",
        "AUTH_THROTTLE_RATE": "1000/min", "MPESA_SWEEP_INTERVAL_SECONDS": "1",
        # The processes run in tmp_path (the filesystem broker writes its control/ folder in the
        # working directory), importing the project from ROOT.
        "PYTHONPATH": str(ROOT),
    }
    subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v0"], cwd=ROOT, env=env, check=True, timeout=300)
    (tmp_path / "prometheus.yml").write_text(
        "global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
        "scrape_configs:\n"
        "  - job_name: payme\n"
        f"    authorization: {{credentials: {TOKEN}}}\n"
        f"    static_configs: [{{targets: ['127.0.0.1:{web_port}']}}]\n"
    )
    logs = tmp_path / "logs"
    logs.mkdir()
    commands = {
        "gunicorn": [str(Path(sys.executable).parent / "gunicorn"), "-c", str(ROOT / "gunicorn.conf.py"), "payme.wsgi",
                     "-b", f"127.0.0.1:{web_port}", "-w", "2", "-k", "gthread", "--threads", "4"],
        "worker": [sys.executable, "-m", "celery", "-A", "payme", "worker", "--pool", "threads", "--concurrency", "4",
                   "--without-mingle", "--without-gossip", "--loglevel", "WARNING"],
        "prometheus": [prometheus, f"--config.file={tmp_path / 'prometheus.yml'}", f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                       f"--web.listen-address=127.0.0.1:{prom_port}"],
    }
    running = {}
    try:
        for name, command in commands.items():
            out = open(logs / f"{name}.log", "wb")
            running[name] = subprocess.Popen(command, cwd=tmp_path, env=env, stdout=out, stderr=subprocess.STDOUT)
        _wait_for(f"{base}/healthz")
        _wait_for(f"http://127.0.0.1:{prom_port}/-/ready")
        yield {"base": base, "prometheus": f"http://127.0.0.1:{prom_port}", "metrics_dir": metrics_dir, "gunicorn": running["gunicorn"],
               "worker": running["worker"], "logs": logs}
    finally:
        for proc in running.values():
            proc.terminate()
        for proc in running.values():
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def _succeeded(prometheus):
    answer = requests.get(f"{prometheus}/api/v1/query", params={"query": 'sum(payme_payments_total{purpose="sale",outcome="succeeded"})'},
                          timeout=5).json()
    assert answer["status"] == "success", answer
    result = answer["data"]["result"]
    return float(result[0]["value"][1]) if result else 0.0


def _children(pid):
    found = set()
    for task in Path(f"/proc/{pid}/task").iterdir():
        found |= {int(child) for child in (task / "children").read_text().split()}
    return found


def test_prometheus_sees_a_paid_sale_summed_over_the_processes(stack):
    base, prometheus = stack["base"], stack["prometheus"]
    session = _call("POST", f"{base}/api/auth/sign-up", json=OWNER)
    assert session.status_code == 201, session.text
    auth = {"Authorization": f"Bearer {session.json()['access']}"}
    config = _call("POST", f"{base}/api/payment-config/setup", headers=auth, json={
        "method": "till", "shortcode": "7654321", "till_number": "1234567", "passkey": "e2e-passkey",
        "account_reference": "PARK", "account_name": "Otieno Parking"})
    assert config.status_code == 201, config.text

    deadline = time.monotonic() + 30
    while not requests.get(f"{prometheus}/api/v1/query", params={"query": 'up{job="payme"} == 1'}, timeout=5).json()["data"]["result"]:
        assert time.monotonic() < deadline, "Prometheus never scraped /metrics"
        time.sleep(0.5)
    before = _succeeded(prometheus)

    sale = _call("POST", f"{base}/api/sales/payment", headers=auth, json={"phone": "0722000111", "amount": 100, "account_reference": "SLOT7"})
    assert sale.status_code == 202, sale.text
    deadline = time.monotonic() + 40
    while (status := _call("GET", f"{base}/api/sales/{sale.json()['id']}", headers=auth).json()["status"]) == "pending":
        assert time.monotonic() < deadline, (stack["logs"] / "worker.log").read_text()[-3000:]
        time.sleep(0.3)
    assert status == "paid"

    deadline = time.monotonic() + 20
    while (after := _succeeded(prometheus)) < before + 1:
        assert time.monotonic() < deadline, f"the succeeded counter stayed at {after}"
        time.sleep(0.5)
    assert after == before + 1

    # The sum is the same whichever gunicorn worker answers the scrape, and it is a sum: the web
    # workers and the Celery worker each wrote their own files.
    for _ in range(6):
        text = _call("GET", f"{base}/metrics", headers={"Authorization": f"Bearer {TOKEN}"}).text
        assert f'payme_payments_total{{outcome="succeeded",purpose="sale"}} {after}' in text
    writers = {int(p.stem.rsplit("_", 1)[1]) for p in stack["metrics_dir"].glob("counter_*.db")}
    web_workers = _children(stack["gunicorn"].pid)
    assert len(web_workers) == 2
    assert len(writers & web_workers) == 2, (writers, web_workers)
    assert stack["worker"].pid in writers
