"""Seeing what happens (DESIGN.md): request ids end to end and structured logs.

The request id comes from django-structlog: its ``RequestMiddleware`` binds ``request_id`` (the
trusted proxy's ``X-Request-ID`` when ``REQUEST_ID_TRUST_UPSTREAM`` is on, else a new UUID) into
structlog's context variables; its Celery receivers carry that context in the headers of every task
the request enqueues and bind it again in the worker. Everything here reads or decorates that
context: nothing keeps its own copy.

Logs: every line, ours and the libraries' (``logging.getLogger`` lines included), goes through
one ``ProcessorFormatter``: JSON lines in production (``LOG_FORMAT=json``), a readable console in
development. ``redact`` runs last before rendering, on every line: phones are masked, values under
secret-looking keys are dropped, callback tokens (in URLs or bare) are replaced.

This module imports no Django models: ``payme.settings`` builds LOGGING from it.
"""

from __future__ import annotations

import re
import uuid

import structlog

REQUEST_ID_HEADER = "X-Request-ID"
# What a proxy's id may look like before we repeat it in logs and answers (no spaces, no quotes,
# no newlines: a forged header must not forge log lines).
_UPSTREAM_ID = re.compile(r"^[A-Za-z0-9._:\-]{8,128}$")


def current_request_id() -> str:
    """The id of the request being served, or of the request that enqueued the running task.
    "" outside both (a beat job, a management command)."""
    value = structlog.contextvars.get_contextvars().get("request_id")
    return str(value) if value else ""


def plain_request_id(value: str) -> str:
    """``value`` if it is a plain token fit to repeat (8-128 of ``A-Za-z0-9._:-``), else ""."""
    return value if value and _UPSTREAM_ID.match(value) else ""


def bind(**values) -> None:
    """Add fields (business_id, push_id, purpose...) to every later log line of this request or task."""
    structlog.contextvars.bind_contextvars(**{k: v for k, v in values.items() if v is not None})


# --- django-structlog hooks (connected in payme.apps) -------------------------------------------


def on_request_started(request, logger, log_kwargs, **kwargs):
    """An upstream id that is not a plain token is replaced by a fresh one (and logged as such)."""
    request_id = current_request_id()
    if request_id and not _UPSTREAM_ID.match(request_id):
        structlog.contextvars.bind_contextvars(request_id=str(uuid.uuid4()))
        log_kwargs["upstream_request_id_rejected"] = True


def on_request_finished(request, logger, response, log_kwargs, **kwargs):
    response[REQUEST_ID_HEADER] = current_request_id()


def on_request_failed(request, response, logger, exception, **kwargs):
    response[REQUEST_ID_HEADER] = current_request_id()


# --- Redaction ------------------------------------------------------------------------------

# Keys whose values never reach a log line, whatever they hold.
_SECRET_KEY = re.compile(
    r"pass(word|key)|secret|(^|_)token($|_)|authorization|credential|cookie|(^|_)raw($|_)|(^|_)body($|_)|signature", re.I
)
# 2547XXXXXXXX, 2541XXXXXXXX, +254…, 07XXXXXXXX, 01XXXXXXXX, not inside a longer word or number.
_PHONE = re.compile(r"(?<![0-9A-Za-z])(\+?254|0)([17]\d{8})(?![0-9A-Za-z])")
# Our callback URLs carry a 64-hex token; a bare 64-hex string is treated the same.
_CALLBACK_PATH = re.compile(r"(/callback/)[^/\s?\"']+")
_HEX_TOKEN = re.compile(r"(?<![0-9A-Fa-f])[0-9a-fA-F]{40,}(?![0-9A-Fa-f])")
REDACTED = "[redacted]"


def _mask_phone_match(match: re.Match) -> str:
    prefix, rest = match.group(1), match.group(2)
    return f"{prefix}{rest[:1]}****{rest[-4:]}"


def scrub(text: str) -> str:
    """Mask phones and callback tokens in free text."""
    text = _CALLBACK_PATH.sub(r"\1" + REDACTED, text)
    text = _HEX_TOKEN.sub(REDACTED, text)
    return _PHONE.sub(_mask_phone_match, text)


def _clean(value, depth=0):
    if isinstance(value, str):
        return scrub(value)
    if depth > 4:
        return value
    if isinstance(value, dict):
        return {k: (REDACTED if _SECRET_KEY.search(str(k)) else _clean(v, depth + 1)) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v, depth + 1) for v in value]
    return value


def redact(logger, method_name, event_dict):
    """structlog processor: the last word before a line is rendered."""
    for key in list(event_dict):
        if key == "event":
            event_dict[key] = _clean(event_dict[key])
        elif _SECRET_KEY.search(key):
            event_dict[key] = REDACTED
        else:
            event_dict[key] = _clean(event_dict[key])
    return event_dict


# --- Logging configuration ------------------------------------------------------------------


def _pre_chain():
    return [
        structlog.contextvars.merge_contextvars,
        # logger.info(..., extra={"push_id": ...}) becomes fields an operator can filter on.
        structlog.stdlib.ExtraAdder(),
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]


def formatter(log_format: str) -> structlog.stdlib.ProcessorFormatter:
    """The one formatter of every handler: ``json`` (production) or ``console`` (development)."""
    renderer = (
        structlog.processors.JSONRenderer(sort_keys=False)
        if log_format == "json"
        else structlog.dev.ConsoleRenderer(colors=False, exception_formatter=structlog.dev.plain_traceback)
    )
    return structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=_pre_chain(),
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            redact,
            renderer,
        ],
    )


def logging_config(*, log_format: str, level: str) -> dict:
    if log_format not in {"json", "console"}:
        raise ValueError("LOG_FORMAT must be json or console.")
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.stdlib.filter_by_level,
            structlog.stdlib.add_log_level,
            structlog.stdlib.add_logger_name,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.stdlib.PositionalArgumentsFormatter(),
            structlog.processors.StackInfoRenderer(),
            structlog.processors.UnicodeDecoder(),
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"payme": {"()": "payme.observability.formatter", "log_format": log_format}},
        "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "payme"}},
        "root": {"handlers": ["console"], "level": level},
        "loggers": {
            "django.server": {"level": "WARNING"},
            # django-structlog's request_started/finished lines carry the request id; Django's own
            # access line would repeat the path without it.
            "django.request": {"level": "ERROR"},
        },
    }
