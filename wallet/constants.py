"""The platform's wallet paybill. Constants of the wallet, not per-business settings."""

from django.conf import settings

WALLET_PAYBILL = "650880"
WALLET_ACCOUNT_REFERENCE = "37605544"
WALLET_TRANSACTION_DESC = "PayMe tokens"


def wallet_paybill() -> str:
    # The override exists only for sandbox testing against Safaricom's 174379.
    return settings.WALLET_PAYBILL_OVERRIDE or WALLET_PAYBILL


def wallet_account_reference() -> str:
    return settings.WALLET_ACCOUNT_REFERENCE_OVERRIDE or WALLET_ACCOUNT_REFERENCE
