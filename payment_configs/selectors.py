from django.conf import settings

from mpesa.daraja import Credentials
from payme import sql
from payme.encryption import Secret
from payment_configs.models import PaymentConfig


def active_config_for(*, business) -> PaymentConfig | None:
    # Plain SQL (payme/sql.py): every payment start reads it.
    return sql.select_by(PaymentConfig, business_id=business.pk, is_active=True)


def setup_needed(*, business) -> bool:
    return not PaymentConfig.objects.filter(business=business, is_active=True).exists()


def platform_credentials() -> Credentials:
    return Credentials(consumer_key=settings.MPESA_CONSUMER_KEY, consumer_secret=settings.MPESA_CONSUMER_SECRET)


def daraja_credentials_for(config: PaymentConfig) -> tuple[Credentials, str]:
    """(Daraja app credentials, passkey) for a config: the one place its secrets are decrypted.

    A business with its own Daraja app uses it; otherwise the platform's app is used.
    """
    if config.uses_own_daraja_app:
        credentials = Credentials(consumer_key=_plain(config.consumer_key), consumer_secret=_plain(config.consumer_secret))
    else:
        credentials = platform_credentials()
    return credentials, _plain(config.passkey)


def config_for_push(push) -> PaymentConfig | None:
    """The config a push was sent with: same business, shortcode and PartyB (the active one if
    several match, else the newest), so a query or a send uses the credentials of the config that
    built the Password even if the business replaced it since."""
    till_number = push.party_b if push.transaction_type == "CustomerBuyGoodsOnline" else ""
    return (
        PaymentConfig.objects.filter(business_id=push.business_id, shortcode=push.shortcode, till_number=till_number)
        .order_by("-is_active", "-created_at")
        .first()
    )


def credentials_for_push(push) -> tuple[Credentials, str]:
    """Registered as ``credentials_for`` by the apps whose pushes go through a business's config."""
    config = config_for_push(push)
    if config is None:
        raise LookupError(f"No payment config matches push {push.public_id}")
    return daraja_credentials_for(config)


def _plain(value) -> str:
    # A row read from the DB holds Secret; one just built in memory still holds the str.
    return value.reveal() if isinstance(value, Secret) else value


def credentials_for_c2b(registration) -> Credentials:
    """Registered with ``mpesa.c2b``: the Daraja app of the config a C2B registration belongs to."""
    config = PaymentConfig.objects.filter(pk=registration.source_id, business_id=registration.business_id).first()
    if config is None:
        raise LookupError(f"No payment config for C2B registration {registration.public_id}")
    return daraja_credentials_for(config)[0]


def c2b_registration_for(*, business):
    """The C2B registration of the business's active config, or None."""
    from mpesa.models import C2BRegistration

    config = active_config_for(business=business)
    if config is None:
        return None
    return C2BRegistration.objects.filter(business=business, source_id=config.pk).first()
