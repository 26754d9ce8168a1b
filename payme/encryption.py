"""Encrypted model fields (Fernet, rotatable with MultiFernet).

``FIELD_ENCRYPTION_KEYS`` is a comma list: the first key encrypts, every key decrypts. To
rotate, put a new key first, run ``manage.py rotate_encryption_keys``, then drop the old key.
"""

import base64
import hashlib
import logging
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import models

logger = logging.getLogger(__name__)

PREFIX = "fernet:"


def development_key():
    """A key derived from SECRET_KEY, for DEBUG only (payme.checks warns when it is used)."""
    digest = hashlib.sha256(("payme-dev-field-key:" + settings.SECRET_KEY).encode()).digest()
    return base64.urlsafe_b64encode(digest).decode()


def configured_keys():
    keys = [k.strip() for k in settings.FIELD_ENCRYPTION_KEYS if k.strip()]
    if keys:
        return keys
    if settings.DEBUG:
        return [development_key()]
    raise ImproperlyConfigured(
        "FIELD_ENCRYPTION_KEYS is not set. Generate a key with "
        "python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())' "
        "and set FIELD_ENCRYPTION_KEYS to it."
    )


@lru_cache(maxsize=8)
def _fernet_for(keys):
    try:
        return MultiFernet([Fernet(k.encode()) for k in keys])
    except (ValueError, TypeError):
        raise ImproperlyConfigured(
            "FIELD_ENCRYPTION_KEYS holds a value that is not a Fernet key (32 url-safe base64 bytes)."
        ) from None


def fernet():
    return _fernet_for(tuple(configured_keys()))


def encrypt(plaintext: str) -> str:
    return PREFIX + fernet().encrypt(plaintext.encode()).decode()


def decrypt(stored: str) -> str:
    if not stored.startswith(PREFIX):
        raise ValueError("Stored value is not encrypted.")
    try:
        return fernet().decrypt(stored[len(PREFIX) :].encode()).decode()
    except InvalidToken:
        # Never include the value in the message: it may be read by whoever sees the error.
        raise ValueError("A stored secret cannot be decrypted with any configured key.") from None


def rotate(stored: str) -> str:
    """Re-encrypt with the first key; returns the new stored form."""
    return PREFIX + fernet().rotate(stored[len(PREFIX) :].encode()).decode()


class Secret:
    """A stored secret, still encrypted. Nothing prints it: ``repr``/``str`` are masks, and the
    plaintext comes only from ``reveal()`` — called in one place per secret kind (see
    ``payment_configs.selectors.daraja_credentials_for``)."""

    __slots__ = ("stored",)

    def __init__(self, stored: str):
        self.stored = stored

    def reveal(self) -> str:
        return decrypt(self.stored)

    def __repr__(self):
        return "<Secret>"

    def __str__(self):
        return "<Secret>"

    def __eq__(self, other):
        return isinstance(other, Secret) and other.stored == self.stored

    def __hash__(self):
        return hash(self.stored)


class EncryptedTextField(models.TextField):
    """A text column that holds only ciphertext.

    Reading gives a ``Secret`` (or "" when blank); assigning a plain string encrypts it on save.
    Blank stays blank so optional secrets can be absent. Never use it in lookups.
    """

    def from_db_value(self, value, expression, connection):
        if value in (None, ""):
            return value
        return Secret(value)

    def to_python(self, value):
        return value

    def get_prep_value(self, value):
        if isinstance(value, Secret):
            return value.stored
        value = super().get_prep_value(value)
        if value in (None, ""):
            return value
        return encrypt(value)

    def value_to_string(self, obj):
        # Serialisation (dumpdata) keeps ciphertext, never plaintext.
        value = self.value_from_object(obj)
        return value.stored if isinstance(value, Secret) else ""
