"""Start-up checks: missing production secrets stop the server with a clear message."""

from django.conf import settings
from django.core.checks import Error, Warning, register
from django.core.exceptions import ImproperlyConfigured


@register()
def encryption_keys_check(app_configs, **kwargs):
    from payme.encryption import configured_keys, fernet

    if not settings.FIELD_ENCRYPTION_KEYS:
        if settings.DEBUG:
            return [
                Warning(
                    "FIELD_ENCRYPTION_KEYS is not set; secrets are encrypted with a development key "
                    "derived from SECRET_KEY.",
                    hint="Set FIELD_ENCRYPTION_KEYS before storing real passkeys.",
                    id="payme.W001",
                )
            ]
        return [
            Error(
                "FIELD_ENCRYPTION_KEYS is not set; passkeys cannot be stored or read.",
                hint="Generate one with: python -c 'from cryptography.fernet import Fernet; "
                "print(Fernet.generate_key().decode())'",
                id="payme.E001",
            )
        ]
    try:
        configured_keys()
        fernet()
    except ImproperlyConfigured as exc:
        return [Error(str(exc), id="payme.E002")]
    return []


@register()
def mpesa_settings_check(app_configs, **kwargs):
    errors = []
    if settings.MPESA_ENV == "simulator":
        if not settings.DEBUG:
            errors.append(
                Warning(
                    "MPESA_ENV=simulator with DEBUG off: no real money can move.",
                    hint="Use MPESA_ENV=production (or sandbox) in production.",
                    id="payme.W002",
                )
            )
        return errors
    for name in ("MPESA_CONSUMER_KEY", "MPESA_CONSUMER_SECRET", "MPESA_PASSKEY_WALLET", "MPESA_CALLBACK_URL"):
        if not getattr(settings, name):
            errors.append(
                Error(f"{name} is not set (MPESA_ENV={settings.MPESA_ENV}).", id="payme.E010")
            )
    url = settings.MPESA_CALLBACK_URL
    if settings.MPESA_ENV == "production" and url and not url.startswith("https://"):
        errors.append(Error("MPESA_CALLBACK_URL must use https in production.", id="payme.E011"))
    from mpesa.rules import forbidden_callback_words

    bad = forbidden_callback_words(url or "")
    if bad:
        errors.append(
            Error(
                f"MPESA_CALLBACK_URL contains words Safaricom forbids in callback URLs: {', '.join(bad)}.",
                id="payme.E012",
            )
        )
    return errors


@register()
def database_features_check(app_configs, **kwargs):
    """payme.sql writes INSERT … ON CONFLICT … RETURNING: SQLite has both from 3.35."""
    import sqlite3

    return sqlite_problems(settings.DATABASES["default"]["ENGINE"], sqlite3.sqlite_version_info)


def sqlite_problems(engine: str, version: tuple) -> list:
    if engine == "django.db.backends.sqlite3" and tuple(version) < (3, 35):
        shown = ".".join(str(part) for part in version)
        return [Error(f"SQLite {shown} is too old: PayMe needs 3.35 or newer (or PostgreSQL).", id="payme.E020")]
    return []


@register()
def broker_check(app_configs, **kwargs):
    """The worker tier needs a broker every process agrees on (DESIGN.md, "Where work runs")."""
    url = settings.CELERY_BROKER_URL
    if not url:
        return [Error("CELERY_BROKER_URL is not set: payment starts could not be sent.", hint="redis://127.0.0.1:6379/1", id="payme.E030")]
    if url.startswith(("embedded://", "filesystem://", "memory://")) and not settings.DEBUG:
        return [Warning(f"CELERY_BROKER_URL={url.split(':')[0]}:// is for development and tests only.", hint="Use Redis in production.", id="payme.W031")]
    return []
