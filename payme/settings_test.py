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
# Live-server threads must not keep connections open past a request, or PostgreSQL refuses
# to drop the test database at the end of the run.
os.environ.setdefault("CONN_MAX_AGE", "0")
# Unit tests run tasks eagerly, in the test's thread (tests/conftest.py runs what a request
# enqueued once it "commits"); live-server tests start a real worker (tests/e2e/conftest.py).
os.environ.setdefault("CELERY_BROKER_URL", "memory://")

from payme.settings import *  # noqa: E402,F403

if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":  # noqa: F405
    # A file, not Django's shared in-memory connection: the live-server tests run the simulator's
    # callbacks on their own threads, and each thread needs its own connection and lock waits.
    DATABASES["default"]["TEST"] = {"NAME": str(BASE_DIR / ".test-db.sqlite3")}  # noqa: F405

CELERY_TASK_ALWAYS_EAGER = True
CELERY_TASK_EAGER_PROPAGATES = True

SILENCED_SYSTEM_CHECKS = [*SILENCED_SYSTEM_CHECKS, "payme.W002", "payme.W031"]  # noqa: F405  (simulator and in-memory broker with DEBUG off, on purpose)
