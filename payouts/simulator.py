"""What the offline Daraja simulator learns from payout configs (registered in apps.py): every
configured B2C shortcode has its initiator, as Safaricom's portal would (replaced configs too)."""

from payme.encryption import Secret
from payouts.models import PayoutConfig


def initiators(shortcode: str):
    for config in PayoutConfig.objects.filter(shortcode=shortcode).order_by("-is_active", "-created_at"):
        password = config.initiator_password
        yield config.initiator_name, password.reveal() if isinstance(password, Secret) else password
