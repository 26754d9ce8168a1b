"""Run the offline Daraja simulator on its own port, at Daraja's root paths.

    python manage.py daraja_simulator --port 8001

Point any Daraja client's base URL at http://127.0.0.1:8001 (instead of
https://sandbox.safaricom.co.ke). Apps and shortcodes are the simulator's own (README, "The
Daraja simulator"): the sandbox test app and 174379, the platform's app and wallet paybill from
settings, and every payment config in this project's database.
"""

from django.conf import settings
from django.core.management.base import BaseCommand

from mpesa.simulator import registry
from mpesa.simulator.server import make_server


class Command(BaseCommand):
    help = "Run the offline Daraja simulator on its own port, at Daraja's root paths."

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8001)
        parser.add_argument("--quiet", action="store_true", help="do not log each request")

    def handle(self, *args, host, port, quiet, **options):
        server = make_server(host, port, quiet=quiet)
        url = f"http://{host}:{server.server_port}"
        mode = "realistic (customer thinks 10-60 s)" if settings.SIMULATOR_REALISTIC else f"fast ({settings.SIMULATOR_CALLBACK_DELAY:g} s)"
        self.stdout.write(
            f"Daraja simulator on {url}  (base URL for any client; Ctrl-C stops it)\n"
            f"  sandbox app: {registry.SANDBOX_CONSUMER_KEY} / {registry.SANDBOX_CONSUMER_SECRET}\n"
            f"  shortcode {registry.SANDBOX_SHORTCODE}, passkey {registry.SANDBOX_PASSKEY}\n"
            f"  customer: {mode}\n"
        )
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            pass
        finally:
            server.server_close()
