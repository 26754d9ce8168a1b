"""What the simulator knows, like Daraja knows its apps and its live shortcodes.

``mpesa`` sits below the apps that own credentials (payment_configs, wallet), so it cannot read
them. They register providers here from their ``AppConfig.ready()``, the same way they register
with ``mpesa.services.register_purpose``:

- an app provider maps a consumer key to the secrets that go with it;
- a shortcode provider maps a shortcode to the ``Shortcode`` entries (passkey, paybill or till
  store number) Daraja would have for it.

Built in: the public sandbox (174379 with its published passkey, and a documented test app for
third-party clients) and the platform's own app from settings.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from django.conf import settings
from django.db import DatabaseError

logger = logging.getLogger(__name__)

SANDBOX_SHORTCODE = "174379"
SANDBOX_PASSKEY = "bfb279f9aa9bdbcf158e97dd71a467cd2e0c893059b10f78e6b72ada1ed2c919"
# Daraja has no shared public app (every developer creates one on the portal); the simulator
# ships this one so any client library can get a token without touching our settings.
SANDBOX_CONSUMER_KEY = "sandbox-consumer-key"
SANDBOX_CONSUMER_SECRET = "sandbox-consumer-secret"

PAYBILL = "paybill"
TILL = "till"


@dataclass(frozen=True)
class Shortcode:
    number: str
    passkey: str = field(repr=False)
    kind: str = PAYBILL  # PAYBILL, or TILL when the number is a till's store number


# Safaricom's sandbox test shortcodes (B2C, reversal, balance, status, C2B), with its public
# test initiator (REFERENCE.md section 8).
SANDBOX_TEST_SHORTCODES = ("600000", "600992", "600996", "600997", "600966", "600984")
SANDBOX_INITIATOR = ("testapi", "Safaricom999!*!")

AppProvider = Callable[[str], Iterable[str]]
InitiatorProvider = Callable[[str], Iterable[tuple[str, str]]]
ShortcodeProvider = Callable[[str], Iterable[Shortcode]]

_app_providers: list[AppProvider] = []
_shortcode_providers: list[ShortcodeProvider] = []
_initiator_providers: list[InitiatorProvider] = []


def register_apps(provider: AppProvider) -> None:
    """``provider(consumer_key)`` yields the consumer secrets of the apps with that key."""
    if provider not in _app_providers:
        _app_providers.append(provider)


def register_shortcodes(provider: ShortcodeProvider) -> None:
    """``provider(number)`` yields the ``Shortcode`` entries live under that number."""
    if provider not in _shortcode_providers:
        _shortcode_providers.append(provider)


def register_initiators(provider: InitiatorProvider) -> None:
    """``provider(shortcode)`` yields (initiator name, initiator password) pairs for that shortcode."""
    if provider not in _initiator_providers:
        _initiator_providers.append(provider)


def initiators(shortcode: str) -> dict[str, str]:
    """Initiator name → password for a shortcode that can pay out; empty: no such permission."""
    found: dict[str, str] = {}
    if shortcode in SANDBOX_TEST_SHORTCODES:
        found[SANDBOX_INITIATOR[0]] = SANDBOX_INITIATOR[1]
    for provider in _initiator_providers:
        found.update(_ask(provider, shortcode))
    return found


def c2b_shortcode_exists(shortcode: str) -> bool:
    return shortcode in SANDBOX_TEST_SHORTCODES or bool(shortcodes(shortcode))


def app_exists(consumer_key: str, consumer_secret: str) -> bool:
    """Is there an app with this consumer key and secret (built-in ones first, no DB needed)?"""
    if not consumer_key or not consumer_secret:
        return False
    if (consumer_key, consumer_secret) == (SANDBOX_CONSUMER_KEY, SANDBOX_CONSUMER_SECRET):
        return True
    if (consumer_key, consumer_secret) == (settings.MPESA_CONSUMER_KEY, settings.MPESA_CONSUMER_SECRET):
        return True
    return any(consumer_secret in set(_ask(provider, consumer_key)) for provider in _app_providers)


def shortcodes(number: str) -> list[Shortcode]:
    """Every entry Daraja has under this number; empty means "Merchant does not exist"."""
    if number == SANDBOX_SHORTCODE:
        return [Shortcode(SANDBOX_SHORTCODE, SANDBOX_PASSKEY, PAYBILL)]
    found: list[Shortcode] = []
    for provider in _shortcode_providers:
        found.extend(s for s in _ask(provider, number) if s.passkey)
    return found


def _ask(provider, value) -> list:
    # A database without its tables (the stand-alone simulator before `migrate`) knows nothing.
    try:
        return list(provider(value))
    except DatabaseError as exc:
        logger.warning("The simulator could not read %s: %s", getattr(provider, "__module__", provider), exc)
        return []
