import time

import pytest
import requests

from tests.conftest import tasks_through_the_broker


@pytest.fixture
def worker():
    """A real Celery worker (thread pool) beside the live server, on Celery's in-memory broker:
    payment starts are sent by it after the request's commit, as in production — not eagerly."""
    from celery.contrib.testing.worker import start_worker

    with tasks_through_the_broker() as app:
        with start_worker(app, pool="threads", concurrency=4, perform_ping_check=False, loglevel="WARNING", shutdown_timeout=10) as running:
            yield running


@pytest.fixture
def live(live_server, worker, settings):
    """The whole system over real HTTP: API, callback view and simulator in one live server."""
    settings.MPESA_CALLBACK_URL = f"{live_server.url}/api/daraja/callback"
    settings.MPESA_BASE_URL = f"{live_server.url}/simulator/daraja"
    settings.SIMULATOR_CALLBACK_DELAY = 0.3
    settings.SIMULATOR_LATE_CALLBACK_DELAY = 2.5
    settings.SESSION_COOKIE_SECURE = False
    settings.CSRF_COOKIE_SECURE = False
    settings.AUTH_THROTTLE_RATE = "1000/min"
    return live_server


class Api:
    def __init__(self, base):
        self.base = base
        self.session = requests.Session()

    def auth(self, access):
        self.session.headers["Authorization"] = f"Bearer {access}"

    def call(self, method, path, **kwargs):
        return self.session.request(method, self.base + path, timeout=15, **kwargs)

    def poll(self, path, field, until, timeout=10):
        deadline = time.monotonic() + timeout
        while True:
            body = self.call("GET", path).json()
            if until(body[field]) or time.monotonic() > deadline:
                return body
            time.sleep(0.1)


@pytest.fixture
def api(live):
    return Api(live.url)
