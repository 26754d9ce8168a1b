"""The wallet paybill as the offline Daraja simulator knows it (registered in apps.py)."""

from django.conf import settings

from mpesa.simulator.registry import PAYBILL, Shortcode
from wallet.constants import wallet_paybill


def shortcodes(number: str):
    if settings.MPESA_PASSKEY_WALLET and number == wallet_paybill():
        yield Shortcode(number, settings.MPESA_PASSKEY_WALLET, PAYBILL)
