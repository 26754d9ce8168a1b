"""Settings for the test suite: production settings (DEBUG off) with test-only values.

Everything else — DATABASE_URL in particular, for the PostgreSQL run — still comes from the
environment.
"""

import os

os.environ.setdefault("DEBUG", "0")
os.environ.setdefault("SECRET_KEY", "test-secret-key-not-for-production-0123456789")
os.environ.setdefault("ALLOWED_HOSTS", "*")
os.environ.setdefault("SECURE_SSL_REDIRECT", "0")
os.environ.setdefault("MPESA_ENV", "simulator")
os.environ.setdefault("FIELD_ENCRYPTION_KEYS", "Qar_LhEW_wMWDUxb7LAiq1MwXL4kzMuUIYl5iIWc_5I=")
os.environ.setdefault("PASSWORD_HASHERS", "django.contrib.auth.hashers.MD5PasswordHasher")
os.environ.setdefault("LOG_LEVEL", "WARNING")
os.environ.setdefault("SIMULATOR_CALLBACK_DELAY", "0.2")

from payme.settings import *  # noqa: E402,F403

SILENCED_SYSTEM_CHECKS = [*SILENCED_SYSTEM_CHECKS, "payme.W002"]  # noqa: F405  (simulator with DEBUG off, on purpose)
