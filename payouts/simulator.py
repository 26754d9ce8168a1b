"""What the offline Daraja simulator learns from payout configs (registered in apps.py): every
configured B2C shortcode has its initiator, as Safaricom's portal would (replaced configs too).
The sandbox's own test shortcodes keep only their public initiator (``testapi``), so a wrong
password there is a ``2001``, as on the sandbox."""

from mpesa.simulator.registry import SANDBOX_TEST_SHORTCODES
from payme.encryption import Secret
from payouts.models import PayoutConfig


def initiators(shortcode: str):
    if shortcode in SANDBOX_TEST_SHORTCODES:
        return
    for config in PayoutConfig.objects.filter(shortcode=shortcode).order_by("-is_active", "-created_at"):
        password = config.initiator_password
        yield config.initiator_name, password.reveal() if isinstance(password, Secret) else password
