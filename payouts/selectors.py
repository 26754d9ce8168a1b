from mpesa.daraja import Credentials, Initiator
from payme.encryption import Secret
from payment_configs.selectors import platform_credentials
from payouts.models import Payout, PayoutConfig


def active_payout_config_for(*, business) -> PayoutConfig | None:
    return PayoutConfig.objects.filter(business=business, is_active=True).first()


def payouts(*, business, kind: str | None = None, status: str | None = None):
    qs = Payout.objects.filter(business=business).select_related("sale")
    if kind:
        qs = qs.filter(kind=kind)
    if status:
        qs = qs.filter(status=status)
    return qs


def payout_get(*, business, public_id) -> Payout | None:
    return Payout.objects.filter(business=business, public_id=public_id).select_related("sale").first()


def sale_refunds(*, sale):
    return Payout.objects.filter(business_id=sale.business_id, sale=sale, kind=Payout.Kind.REFUND).select_related("sale")


def _plain(value) -> str:
    return value.reveal() if isinstance(value, Secret) else value


def daraja_initiator_for(config: PayoutConfig) -> tuple[Credentials, Initiator]:
    """(Daraja app, initiator) of a payout config: the one place its secrets are decrypted."""
    if config.uses_own_daraja_app:
        credentials = Credentials(consumer_key=_plain(config.consumer_key), consumer_secret=_plain(config.consumer_secret))
    else:
        credentials = platform_credentials()
    initiator = Initiator(shortcode=config.shortcode, name=config.initiator_name, password=_plain(config.initiator_password))
    return credentials, initiator


def initiator_for_command(command) -> tuple[Credentials, Initiator]:
    """Registered as ``initiator_for``: the config the command's shortcode belongs to (the active
    one first), so a status query after a replacement still uses the shortcode's initiator."""
    config = (
        PayoutConfig.objects.filter(business_id=command.business_id, shortcode=command.shortcode)
        .order_by("-is_active", "-created_at").first()
    )
    if config is None:
        raise LookupError("the business has no payout config for this shortcode")
    return daraja_initiator_for(config)
