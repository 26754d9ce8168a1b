import time

import pytest
import requests


@pytest.fixture
def live(live_server, settings):
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
