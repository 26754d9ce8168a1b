"""What the offline Daraja simulator learns from payment configs (registered in apps.py).

Every shortcode a business configured is "live" in the simulator with the passkey it was given,
including replaced configs: Safaricom does not forget a shortcode when we do, and a push sent
with an old config must still be queryable. A business's own Daraja app is a known app.
"""

from mpesa.simulator.registry import PAYBILL, TILL, Shortcode
from payment_configs.models import PaymentConfig
from payment_configs.selectors import _plain


def shortcodes(number: str):
    for config in PaymentConfig.objects.filter(shortcode=number).order_by("-is_active", "-created_at"):
        yield Shortcode(number, _plain(config.passkey), TILL if config.method == PaymentConfig.Method.TILL else PAYBILL)


def app_secrets(consumer_key: str):
    # The key is encrypted at rest, so it cannot be looked up; the simulator's data is small.
    for config in PaymentConfig.objects.exclude(consumer_key="").exclude(consumer_secret=""):
        if _plain(config.consumer_key) == consumer_key:
            yield _plain(config.consumer_secret)
