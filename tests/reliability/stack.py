"""Real processes for the reliability proofs: gunicorn web servers and Celery workers on one
PostgreSQL and one Redis, as production runs them (README, "Production").

Redis: one database number (PAYME_TEST_REDIS_DB, default 10) for the cache and the broker. The
tests that use it take a file lock first, so two pytest-xdist workers never share it at once.
"""

import contextlib
import fcntl
import http.client
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
REDIS_DB = int(os.environ.get("PAYME_TEST_REDIS_DB", "10"))
REDIS_URL = f"redis://127.0.0.1:6379/{REDIS_DB}"


def redis_ok():
    try:
        import redis

        redis.Redis(host="127.0.0.1", port=6379, db=REDIS_DB, socket_timeout=1).ping()
        return True
    except Exception:
        return False


@contextlib.contextmanager
def exclusive():
    """Run alone among the tests that take this lock (across pytest-xdist workers): the process
    stacks here, and the tests that time Daraja budgets, which those stacks' CPU would skew."""
    path = Path(tempfile.gettempdir()) / f"payme-test-redis-{REDIS_DB}.lock"
    with open(path, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@contextlib.contextmanager
def redis_db():
    """Own the test Redis database (flushed) until the block ends."""
    import redis

    with exclusive():
        client = redis.Redis(host="127.0.0.1", port=6379, db=REDIS_DB, socket_timeout=2)
        client.flushdb()
        try:
            yield client
        finally:
            client.flushdb()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def database_url(settings_dict):
    db = settings_dict
    return f"postgres://{db['USER'] or 'postgres'}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


def stack_env(*, database, fake_url, callback_url, secret_key, encryption_keys, **extra):
    """The environment of every web and worker process: production settings, sandbox Daraja at
    the fake, Redis for the cache (one OAuth token for all) and the broker."""
    env = {
        **{k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "TMPDIR")},
        "DJANGO_SETTINGS_MODULE": "payme.settings", "DEBUG": "0", "SECRET_KEY": secret_key,
        "ALLOWED_HOSTS": "*", "SECURE_SSL_REDIRECT": "0", "DATABASE_URL": database,
        "CACHE_URL": REDIS_URL, "CELERY_BROKER_URL": REDIS_URL, "FIELD_ENCRYPTION_KEYS": encryption_keys,
        "MPESA_ENV": "sandbox", "MPESA_BASE_URL": fake_url, "MPESA_CONSUMER_KEY": "shared-key",
        "MPESA_CONSUMER_SECRET": "shared-secret", "MPESA_PASSKEY_WALLET": "simulator-wallet-passkey-650880",
        "MPESA_CALLBACK_URL": callback_url, "PAYMENT_THROTTLE_RATE": "100000/min",
        "LOG_LEVEL": "WARNING", "CONN_MAX_AGE": "0",
    }
    env.update({k: str(v) for k, v in extra.items()})
    return env


def start_gunicorn(port, env, *, workers=2, threads=4):
    return subprocess.Popen(
        [str(BIN / "gunicorn"), "payme.wsgi", "-b", f"127.0.0.1:{port}", "-w", str(workers), "-k", "gthread",
         "--threads", str(threads), "--log-level", "warning"],
        cwd=ROOT, env=env,
    )


def start_worker(env, *, name, concurrency=8):
    """One Celery worker process with a thread pool (`--pool threads`: a single OS process, so a
    SIGKILL to its pid kills every send it has in flight). Its log goes to ``proc.log_path``."""
    log_path = Path(tempfile.mkstemp(prefix=f"payme-{name}-", suffix=".log")[1])
    command = [sys.executable, "-m", "celery", "-A", "payme", "worker", "--pool", "threads", "--concurrency", str(concurrency),
               "--hostname", f"{name}@%h", "--loglevel", "INFO", "--without-mingle", "--without-gossip"]
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(command, cwd=ROOT, env={**env, "LOG_LEVEL": "INFO"}, stdout=log, stderr=subprocess.STDOUT)
    proc.log_path = log_path
    return proc


def start_beat(env, *, schedule):
    """The one beat of the deployment: sweeps and reconciliation on the settings' intervals."""
    command = [sys.executable, "-m", "celery", "-A", "payme", "beat", "--loglevel", "WARNING", "--schedule", str(schedule)]
    return subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def wait_worker_ready(*workers, timeout=60):
    """Until each worker has logged "ready" (it consumes from the broker from then on)."""
    deadline = time.monotonic() + timeout
    for proc in workers:
        while b" ready." not in proc.log_path.read_bytes():
            if proc.poll() is not None:
                raise AssertionError(f"worker exited with {proc.returncode}: {proc.log_path.read_text()[-2000:]}")
            if time.monotonic() > deadline:
                raise AssertionError(f"worker not ready within {timeout} s: {proc.log_path.read_text()[-2000:]}")
            time.sleep(0.1)


def wait_http(port, path="/healthz", timeout=60):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", path)
            response = conn.getresponse()
            last = (response.status, response.read()[:200])
            if response.status == 200:
                return
        except (OSError, http.client.HTTPException) as exc:
            last = repr(exc)
        time.sleep(0.1)
    raise AssertionError(f"{path} on port {port} did not answer 200 within {timeout} s (last: {last})")


def stop(processes, timeout=15):
    for proc in processes:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + timeout
    for proc in processes:
        try:
            proc.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if getattr(proc, "log_path", None):
            proc.log_path.unlink(missing_ok=True)


def request(port, method, path, body=None, headers=None, timeout=30):
    import json

    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    data = None if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
    conn.request(method, path, body=data, headers={"Content-Type": "application/json", **(headers or {})})
    response = conn.getresponse()
    payload = response.read()
    conn.close()
    return response.status, payload
