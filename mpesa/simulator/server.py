"""The simulator on its own port, at Daraja's root paths (``manage.py daraja_simulator``).

Some client libraries join their paths from the root (mpesakit: ``urljoin(base, "/mpesa/...")``)
and cannot use the ``/simulator/daraja/`` prefix of the in-server mount. Here the simulator's
URLconf is the root, and none of the project's middleware runs (no sessions, no CSRF, no HTTPS
redirect): a client sees only Daraja's paths and Daraja's JSON envelopes.
"""

from __future__ import annotations

import logging
import threading

from django.core.handlers.wsgi import WSGIHandler
from django.core.servers.basehttp import ThreadedWSGIServer, WSGIRequestHandler

from mpesa.simulator import views

logger = logging.getLogger(__name__)
URLCONF = "mpesa.simulator.urls"


class SimulatorHandler(WSGIHandler):
    """Django's WSGI handler with the simulator's URLconf as root and no middleware."""

    def load_middleware(self, is_async=False):
        self._view_middleware = []
        self._template_response_middleware = []
        self._exception_middleware = []
        self._middleware_chain = self._answer

    def _answer(self, request):
        # Even with DEBUG on, a client gets Daraja's JSON envelope, never Django's HTML page.
        try:
            return self._get_response(request)
        except Exception:
            logger.exception("The Daraja simulator failed on %s %s", request.method, request.path)
            return views.server_error(request)

    def get_response(self, request):
        request.urlconf = URLCONF
        return super().get_response(request)


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format, *args):  # noqa: A002 - the stdlib's signature
        pass


def make_server(host: str = "127.0.0.1", port: int = 8001, *, quiet: bool = False) -> ThreadedWSGIServer:
    """A threaded server for the simulator; port 0 picks a free port (see ``server_port``)."""
    server = ThreadedWSGIServer((host, port), _QuietHandler if quiet else WSGIRequestHandler, allow_reuse_address=True)
    server.set_app(SimulatorHandler())
    return server


class BackgroundSimulator:
    """The stand-alone simulator in a thread of this process (tests, scripts)::

        with BackgroundSimulator() as sim:
            client.base_url = sim.url
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0):
        self.server = make_server(host, port, quiet=True)
        self.url = f"http://{host}:{self.server.server_port}"
        self._thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(timeout=5)
