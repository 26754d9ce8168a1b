from django.conf import settings

from mpesa.daraja import Credentials
from payme.encryption import Secret
from payment_configs.models import PaymentConfig


def active_config_for(*, business) -> PaymentConfig | None:
    return PaymentConfig.objects.filter(business=business, is_active=True).first()


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


def _plain(value) -> str:
    # A row read from the DB holds Secret; one just built in memory still holds the str.
    return value.reveal() if isinstance(value, Secret) else value
