"""PayMe settings: every value comes from the environment (or an optional .env file).

Production secrets have no defaults. A missing one stops start-up with a clear message,
either here (SECRET_KEY) or through the system checks in ``payme.checks``.
"""

from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

import environ
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

DEBUG = env.bool("DEBUG", default=False)

if DEBUG:
    SECRET_KEY = env("SECRET_KEY", default="dev-insecure-secret-key-change-me-0123456789abcdef")
else:
    try:
        SECRET_KEY = env("SECRET_KEY")
    except ImproperlyConfigured:
        raise ImproperlyConfigured(
            "SECRET_KEY is not set. With DEBUG off it has no default: set SECRET_KEY in the "
            "environment (or .env) to a long random string, e.g. "
            "python -c 'import secrets; print(secrets.token_urlsafe(50))'."
        ) from None

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost"] if DEBUG else [])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "rest_framework_simplejwt.token_blacklist",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_structlog",
    "django_prometheus",
    "payme",
    "accounts",
    "mpesa",
    "payment_configs",
    "wallet",
    "sales",
    "payouts",
    "audit",
    "webhooks",
]

MIDDLEWARE = [
    # First and last: they time the whole request (django-prometheus).
    "django_prometheus.middleware.PrometheusBeforeMiddleware",
    # Binds the request id (and the client's IP) for every log line and task of this request.
    "django_structlog.middlewares.RequestMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_prometheus.middleware.PrometheusAfterMiddleware",
]

ROOT_URLCONF = "payme.urls"
WSGI_APPLICATION = "payme.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------------------
# SQLite by default (zero set-up); PostgreSQL through DATABASE_URL. Persistent connections with
# health checks: opening a new PostgreSQL connection per request costs 5-6x throughput.
DATABASES = {
    "default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}"),
}
if DATABASES["default"]["ENGINE"] != "django.db.backends.sqlite3":
    DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = env.bool("CONN_HEALTH_CHECKS", default=True)
else:
    # Wait for the write lock instead of failing at once when two threads write together, and
    # take it at BEGIN: a deferred transaction that upgrades from reader to writer gets
    # "database is locked" immediately, without waiting (the simulator's callbacks and the
    # runserver threads write at the same time).
    DATABASES["default"].setdefault("OPTIONS", {}).update({"timeout": 20, "transaction_mode": "IMMEDIATE"})
DATABASES["default"]["ATOMIC_REQUESTS"] = False
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Cache ----------------------------------------------------------------------------------
# Local memory by default; Redis (CACHE_URL=redis://127.0.0.1:6379/0) whenever more than one
# process serves the app: the Daraja token and its refresh lock must be shared by all workers.
CACHES = {"default": env.cache("CACHE_URL", default="locmemcache://payme")}
if CACHES["default"]["BACKEND"] == "django.core.cache.backends.redis.RedisCache":
    CACHES["default"]["BACKEND"] = "payme.cache.PaymeRedisCache"

AUTH_USER_MODEL = "accounts.User"
AUTHENTICATION_BACKENDS = ["accounts.backends.EmailBackend"]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
PASSWORD_HASHERS = env.list(
    "PASSWORD_HASHERS",
    default=[
        "django.contrib.auth.hashers.PBKDF2PasswordHasher",
        "django.contrib.auth.hashers.PBKDF2SHA1PasswordHasher",
    ],
)

LANGUAGE_CODE = "en-us"
TIME_ZONE = "Africa/Nairobi"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"

# --- Security (production) ------------------------------------------------------------------
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=not DEBUG)
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$", r"^metrics$"]
SESSION_COOKIE_SECURE = not DEBUG
CSRF_COOKIE_SECURE = not DEBUG
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0 if DEBUG else 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = not DEBUG
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=False)
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
# check --deploy warns (security.W021) when HSTS preload is off. Preloading is a one-way decision
# for the whole domain, so it is an operator's choice (SECURE_HSTS_PRELOAD=1), not a default.
# auth.W004 (USERNAME_FIELD not unique): email IS unique, case-insensitively, through the
# functional constraint user_email_ci_unique on Lower(email), which that check cannot see.
SILENCED_SYSTEM_CHECKS = env.list("SILENCED_SYSTEM_CHECKS", default=["security.W021", "auth.W004"])

# No API or callback body comes near this; a bigger one is refused (413 `request_too_large`)
# from its Content-Length, before it is read.
DATA_UPLOAD_MAX_MEMORY_SIZE = env.int("DATA_UPLOAD_MAX_MEMORY_SIZE", default=1024 * 1024)

# --- REST framework and JWT -----------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "accounts.authentication.TenantJWTAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["payme.parsers.JSONParser"],
    "DEFAULT_PAGINATION_CLASS": "payme.pagination.DefaultPagination",
    "PAGE_SIZE": 20,
    "EXCEPTION_HANDLER": "payme.errors.exception_handler",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "UNAUTHENTICATED_USER": None,
}
if DEBUG:
    REST_FRAMEWORK["DEFAULT_RENDERER_CLASSES"].append("rest_framework.renderers.BrowsableAPIRenderer")

JWT_ACCESS_MINUTES = env.int("JWT_ACCESS_MINUTES", default=15)
if not 1 <= JWT_ACCESS_MINUTES <= 15:
    raise ImproperlyConfigured("JWT_ACCESS_MINUTES must be between 1 and 15.")
SIMPLE_JWT = {
    "ACCESS_TOKEN_LIFETIME": timedelta(minutes=JWT_ACCESS_MINUTES),
    "REFRESH_TOKEN_LIFETIME": timedelta(days=env.int("JWT_REFRESH_DAYS", default=14)),
    "ROTATE_REFRESH_TOKENS": True,
    "BLACKLIST_AFTER_ROTATION": True,
    "UPDATE_LAST_LOGIN": False,
    "SIGNING_KEY": env("JWT_SIGNING_KEY", default=SECRET_KEY),
    "USER_ID_FIELD": "id",
    "USER_ID_CLAIM": "user_id",
}

AUTH_THROTTLE_RATE = env("AUTH_THROTTLE_RATE", default="20/min")
PAYMENT_THROTTLE_RATE = env("PAYMENT_THROTTLE_RATE", default="120/min")

SPECTACULAR_SETTINGS = {
    "TITLE": "PayMe API",
    "DESCRIPTION": "M-Pesa payments for Kenyan businesses: Till/Paybill configs, wallet tokens, sales.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "payme.openapi.add_body_and_auth_errors",
    ],
    "ENUM_NAME_OVERRIDES": {
        "RoleEnum": "accounts.models.Membership.Role",
        "MemberRoleEnum": [("cashier", "Cashier")],
        "PayoutMethodEnum": "payouts.models.Payout.Method",
        "PaymentConfigMethodEnum": "payment_configs.models.PaymentConfig.Method",
    },
}

# --- Encryption at rest ---------------------------------------------------------------------
# Comma list of Fernet keys: the first encrypts, every one decrypts (rotation). Checked at
# start-up by payme.checks; in DEBUG a development key is derived from SECRET_KEY.
FIELD_ENCRYPTION_KEYS = env.list("FIELD_ENCRYPTION_KEYS", default=[])

# --- M-Pesa / Daraja ------------------------------------------------------------------------
MPESA_ENV = env("MPESA_ENV", default="simulator" if DEBUG else "production")
if MPESA_ENV not in {"simulator", "sandbox", "production"}:
    raise ImproperlyConfigured("MPESA_ENV must be one of simulator, sandbox, production.")
MPESA_CALLBACK_URL = env("MPESA_CALLBACK_URL", default="http://127.0.0.1:8000/api/daraja/callback")
_MPESA_DEFAULT_BASE = {
    "sandbox": "https://sandbox.safaricom.co.ke",
    "production": "https://api.safaricom.co.ke",
}
if MPESA_ENV == "simulator":
    _origin = urlsplit(MPESA_CALLBACK_URL)
    _MPESA_DEFAULT_BASE["simulator"] = f"{_origin.scheme}://{_origin.netloc}/simulator/daraja"
MPESA_BASE_URL = env("MPESA_BASE_URL", default="") or _MPESA_DEFAULT_BASE[MPESA_ENV]
MPESA_CONSUMER_KEY = env("MPESA_CONSUMER_KEY", default="simulator-key" if MPESA_ENV == "simulator" else "")
MPESA_CONSUMER_SECRET = env(
    "MPESA_CONSUMER_SECRET", default="simulator-secret" if MPESA_ENV == "simulator" else ""
)
MPESA_PASSKEY_WALLET = env(
    "MPESA_PASSKEY_WALLET",
    default="simulator-wallet-passkey-650880" if MPESA_ENV == "simulator" else "",
)
MPESA_CALLBACK_ALLOWED_IPS = env.list("MPESA_CALLBACK_ALLOWED_IPS", default=[])
MPESA_CALLBACK_TRUSTED_PROXIES = env.int("MPESA_CALLBACK_TRUSTED_PROXIES", default=0)
MPESA_CONFIRM_CALLBACKS = env.bool("MPESA_CONFIRM_CALLBACKS", default=False)
MPESA_CONNECT_TIMEOUT = env.float("MPESA_CONNECT_TIMEOUT", default=5.0)
MPESA_READ_TIMEOUT = env.float("MPESA_READ_TIMEOUT", default=20.0)
MPESA_MAX_AMOUNT = env.int("MPESA_MAX_AMOUNT", default=250_000)
# The certificate the initiator password is encrypted with (SecurityCredential); empty: the one
# shipped for MPESA_ENV in mpesa/certs/ (the simulator always uses its own test certificate).
MPESA_CERTIFICATE_PATH = env("MPESA_CERTIFICATE_PATH", default="")
# Result-URL commands (B2C, reversal): ask Transaction Status about one still open after this long.
MPESA_COMMAND_RECONCILE_AFTER_SECONDS = env.int("MPESA_COMMAND_RECONCILE_AFTER_SECONDS", default=120)
# How long a prompt may stay pending before reconciliation gives up on it (it expires).
MPESA_PENDING_EXPIRY_SECONDS = env.int("MPESA_PENDING_EXPIRY_SECONDS", default=180)
# Reconciliation leaves younger pushes alone: the callback usually arrives within seconds.
MPESA_RECONCILE_AFTER_SECONDS = env.int("MPESA_RECONCILE_AFTER_SECONDS", default=45)
# A push is queried at most once per interval, whatever the number of reconcilers running.
MPESA_QUERY_INTERVAL_SECONDS = env.int("MPESA_QUERY_INTERVAL_SECONDS", default=20)
# Daraja locks a subscriber while a prompt is live; we refuse a second prompt to the same
# phone for this long instead of provoking "Unable to lock subscriber".
MPESA_PROMPT_LOCK_SECONDS = env.int("MPESA_PROMPT_LOCK_SECONDS", default=90)
MPESA_CALLBACK_MAX_BYTES = env.int("MPESA_CALLBACK_MAX_BYTES", default=64 * 1024)
# C2B validation must answer within Daraja's ~8 s: its database lookup gets this long (PostgreSQL).
MPESA_C2B_VALIDATION_BUDGET_MS = env.int("MPESA_C2B_VALIDATION_BUDGET_MS", default=3000)

SIMULATOR_CALLBACK_DELAY = env.float("SIMULATOR_CALLBACK_DELAY", default=2.0)
SIMULATOR_LATE_CALLBACK_DELAY = env.float("SIMULATOR_LATE_CALLBACK_DELAY", default=240.0)
# The simulator's customer thinks 10-60 s before answering (and "no answer" takes 60 s); off: SIMULATOR_CALLBACK_DELAY.
SIMULATOR_REALISTIC = env.bool("SIMULATOR_REALISTIC", default=False)

# --- Worker tier (Celery) ------------------------------------------------------------------
# Every Daraja call and every scheduled job runs in Celery workers, never in a web request.
# Broker: Redis in production and CI (CELERY_BROKER_URL=redis://127.0.0.1:6379/1). With DEBUG on
# and no broker configured, an embedded broker needs no server: a filesystem transport in
# CELERY_BROKER_DIR (payme/broker.py; what `make run` uses, with a real worker and beat beside the
# web server).
RUN_DIR = Path(env("PAYME_RUN_DIR", default=str(BASE_DIR / ".run")))
CELERY_BROKER_URL = env("CELERY_BROKER_URL", default="embedded://" if DEBUG else "")
CELERY_BROKER_DIR = Path(env("CELERY_BROKER_DIR", default=str(RUN_DIR / "broker")))
if CELERY_BROKER_URL.startswith(("embedded://", "filesystem://")):
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(CELERY_BROKER_DIR / "queue"),
        "data_folder_out": str(CELERY_BROKER_DIR / "queue"),
        # Its exchange tables; kombu's default is ./control, in whatever folder a process started.
        "control_folder": str(CELERY_BROKER_DIR / "control"),
        "store_processed": False,
        "polling_interval": 0.1,
    }
    # The transport needs its folder; it is the embedded broker of a development machine.
    (CELERY_BROKER_DIR / "queue").mkdir(parents=True, exist_ok=True)
else:
    # A broker that does not answer must not hold a web request for long: the push is already
    # recorded, and the sweep re-enqueues what was not published.
    CELERY_BROKER_TRANSPORT_OPTIONS = {"socket_timeout": 2, "socket_connect_timeout": 2}
CELERY_BROKER_CONNECTION_TIMEOUT = 2
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TASK_PUBLISH_RETRY_POLICY = {"max_retries": 1, "interval_start": 0, "interval_step": 0.2, "interval_max": 0.2}
CELERY_TASK_DEFAULT_QUEUE = "payme"
CELERY_TASK_IGNORE_RESULT = True
CELERY_RESULT_BACKEND = None
# A task whose worker dies is delivered again; its claim (a conditional UPDATE) makes the second
# delivery a no-op, so nothing is ever sent twice.
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_TIMEZONE = TIME_ZONE
CELERY_TASK_ALWAYS_EAGER = False  # only the unit tests turn it on (payme/settings_test.py)
CELERY_BEAT_SCHEDULE_FILENAME = str(RUN_DIR / "celerybeat-schedule")
# A push still `created` this long after it was recorded lost its enqueue: the sweep sends it.
MPESA_SEND_SWEEP_AFTER_SECONDS = env.int("MPESA_SEND_SWEEP_AFTER_SECONDS", default=10)
# A push not sent within this window is not sent at all (the cashier has moved on): expired.
MPESA_SEND_MAX_DELAY_SECONDS = env.int("MPESA_SEND_MAX_DELAY_SECONDS", default=120)
# A push `sending` for longer than any call can take (token + push, both within the timeouts)
# was left by a dead worker: it becomes `unknown`, settled by callback or query, never resent.
MPESA_SENDING_STALE_SECONDS = env.int("MPESA_SENDING_STALE_SECONDS", default=120)
MPESA_SWEEP_INTERVAL_SECONDS = env.float("MPESA_SWEEP_INTERVAL_SECONDS", default=10.0)
MPESA_RECONCILE_INTERVAL_SECONDS = env.float("MPESA_RECONCILE_INTERVAL_SECONDS", default=15.0)
# /readyz says `workers_behind` when the oldest unsent push is older than this.
READYZ_UNSENT_WARN_SECONDS = env.int("READYZ_UNSENT_WARN_SECONDS", default=30)
WALLET_CHECK_INTERVAL_SECONDS = env.float("WALLET_CHECK_INTERVAL_SECONDS", default=3600.0)
CELERY_BEAT_SCHEDULE = {
    "stk-push-sweep": {"task": "mpesa.stk_push_sweep", "schedule": MPESA_SWEEP_INTERVAL_SECONDS},
    "stk-push-reconcile": {"task": "mpesa.stk_push_reconcile", "schedule": MPESA_RECONCILE_INTERVAL_SECONDS},
    "daraja-command-sweep": {"task": "mpesa.daraja_command_sweep", "schedule": MPESA_SWEEP_INTERVAL_SECONDS},
    "daraja-command-reconcile": {"task": "mpesa.daraja_command_reconcile", "schedule": MPESA_RECONCILE_INTERVAL_SECONDS},
    "wallet-check": {"task": "wallet.check_wallets", "schedule": WALLET_CHECK_INTERVAL_SECONDS},
    "invoice-expire": {"task": "sales.invoice_expire_due", "schedule": 60.0},
    "webhook-sweep": {"task": "webhooks.sweep", "schedule": env.float("WEBHOOKS_SWEEP_INTERVAL_SECONDS", default=5.0)},
}

# --- Outgoing webhooks (webhooks/) ------------------------------------------------------------
# Development and tests only: lets endpoints point at private, loopback and link-local addresses
# (and plain http to them). Off in production: a business must not make us call our own network.
WEBHOOKS_ALLOW_PRIVATE_TARGETS = env.bool("WEBHOOKS_ALLOW_PRIVATE_TARGETS", default=False)
# Seconds after each failed attempt (Standard Webhooks' schedule), ±10 % jitter. The first entry
# is the first attempt; when it runs out the delivery is `failed`.
WEBHOOKS_RETRY_SCHEDULE = [float(s) for s in env.list("WEBHOOKS_RETRY_SCHEDULE", default=["0", "5", "300", "1800", "7200", "18000", "36000", "36000"])]
WEBHOOKS_TIMEOUT_SECONDS = env.float("WEBHOOKS_TIMEOUT_SECONDS", default=15.0)
WEBHOOKS_MAX_BODY_BYTES = 20 * 1024
WEBHOOKS_MAX_URL_LENGTH = 2000
# A receiver's Retry-After is honoured up to this many seconds.
WEBHOOKS_MAX_RETRY_AFTER_SECONDS = env.int("WEBHOOKS_MAX_RETRY_AFTER_SECONDS", default=36000)
# An endpoint failing this long (no success in between) is disabled and its owners emailed.
WEBHOOKS_DISABLE_AFTER_SECONDS = env.int("WEBHOOKS_DISABLE_AFTER_SECONDS", default=5 * 86400)
# Retries due within this many seconds wait in the broker (countdown); later ones in the table.
# Circuit breaker per endpoint: after this many failed attempts in a row, nothing is sent to it
# for WEBHOOKS_BREAKER_PAUSE_SECONDS (deliveries wait, uncounted); the next failure pauses it again.
WEBHOOKS_BREAKER_THRESHOLD = env.int("WEBHOOKS_BREAKER_THRESHOLD", default=5)
WEBHOOKS_BREAKER_PAUSE_SECONDS = env.int("WEBHOOKS_BREAKER_PAUSE_SECONDS", default=60)
WEBHOOKS_COUNTDOWN_MAX_SECONDS = 60
WEBHOOKS_SWEEP_BATCH = 500
WEBHOOKS_REPLAY_MAX = 1000

# --- Wallet and sales -----------------------------------------------------------------------
# The platform paybill and account are constants of the wallet (wallet/constants.py); these
# overrides exist only for sandbox testing against Safaricom's 174379.
WALLET_PAYBILL_OVERRIDE = env("WALLET_PAYBILL_OVERRIDE", default="")
WALLET_ACCOUNT_REFERENCE_OVERRIDE = env("WALLET_ACCOUNT_REFERENCE_OVERRIDE", default="")
WALLET_TOKENS_PER_KES = env.int("WALLET_TOKENS_PER_KES", default=1)
SALES_TOKEN_FEE = env.int("SALES_TOKEN_FEE", default=0)
SALES_REQUIRE_VERIFIED_CONFIG = env.bool("SALES_REQUIRE_VERIFIED_CONFIG", default=False)
# An invoice (paid by C2B from the phone menu) not paid within this time expires and releases its stock.
SALES_INVOICE_EXPIRY_SECONDS = env.int("SALES_INVOICE_EXPIRY_SECONDS", default=3600)

# --- Logging, request ids and metrics (DESIGN.md "Seeing what happens") --------------------
# JSON lines in production, a readable console in development; phones masked and secrets
# dropped on every line (payme/observability.py).
LOG_LEVEL = env("LOG_LEVEL", default="INFO")
LOG_FORMAT = env("LOG_FORMAT", default="console" if DEBUG else "json")
if LOG_FORMAT not in {"json", "console"}:
    raise ImproperlyConfigured("LOG_FORMAT must be json or console.")
from payme.observability import logging_config  # noqa: E402  (imports no Django models)

LOGGING = logging_config(log_format=LOG_FORMAT, level=LOG_LEVEL)
# Take X-Request-ID from the proxy in front (it must set or overwrite it); otherwise every
# request gets a fresh UUID. Either way the answer carries it back in X-Request-ID.
DJANGO_STRUCTLOG_TRUST_UPSTREAM_REQUEST_ID = env.bool("REQUEST_ID_TRUST_UPSTREAM", default=False)
DJANGO_STRUCTLOG_CELERY_ENABLED = True
DJANGO_STRUCTLOG_USER_ID_FIELD = "pk"
# The request line is logged once, at the end, with its status; not twice.
DJANGO_STRUCTLOG_STATUS_START_LOG_LEVEL = env.int("REQUEST_STARTED_LOG_LEVEL", default=10)
# /metrics (Prometheus) answers only a bearer METRICS_TOKEN; empty: /metrics answers 404.
METRICS_TOKEN = env("METRICS_TOKEN", default="")
PROMETHEUS_EXPORT_MIGRATIONS = False

# Benchmarks mount a no-op view (the physical limit of this stack) when this is on.
BENCH_NOOP_VIEW = env.bool("BENCH_NOOP_VIEW", default=False)
