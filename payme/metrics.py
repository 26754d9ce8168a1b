"""Prometheus metrics (DESIGN.md "Seeing what happens"): one function per thing that happens.

Call sites are one line each (``metrics.payment_finished(push)``) at the point where the thing
happens, in mpesa/services.py, mpesa/callbacks.py and mpesa/daraja.py. Counters that describe a
database change are incremented once that change commits (``transaction.on_commit``): a rolled
back payment was never started.

Across processes: with ``PROMETHEUS_MULTIPROC_DIR`` set in the environment before start-up,
prometheus-client writes every process's values to files there and ``/metrics`` sums them (its
multiprocess mode): gunicorn's workers, Celery workers and beat all count into one view. Without
it (``make run``'s single web process, the unit tests) the process's own registry is served.

What is read from the database (the oldest unsent push and Daraja command, open pushes) is computed at scrape time
by ``DatabaseCollector``, so it is right whichever process answers.

Webhook deliveries are counted in webhooks/services.py (each recorded attempt), payouts in
payouts/services.py (the payout following its command to a final status).
"""

from __future__ import annotations

import functools
import os
import time

from django.db import transaction
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector

PAYMENTS = Counter(
    "payme_payments_total",
    "STK payments by purpose and outcome: started (recorded), succeeded, failed, cancelled, expired, needs_review.",
    ["purpose", "outcome"],
)
CALLBACKS = Counter(
    "payme_callbacks_total",
    "Daraja callback deliveries by outcome (applied, duplicate, review, ignored, left_pending, unknown_token, "
    "mismatch, malformed, forbidden_ip, too_large, error).",
    ["outcome"],
)
DARAJA_CALLS = Counter(
    "payme_daraja_calls_total",
    "Daraja calls by API and result: accepted, refused (with Daraja's code), no_answer, invalid_request.",
    ["api", "result", "code"],
)
DARAJA_SECONDS = Histogram(
    "payme_daraja_call_seconds",
    "Daraja call latency by API (whatever the result).",
    ["api"],
    buckets=(0.1, 0.25, 0.5, 1, 2, 3, 5, 8, 13, 21, 30),
)
OAUTH_TOKENS = Counter("payme_daraja_oauth_tokens_minted_total", "Daraja OAuth tokens fetched (not served from cache).", ["environment"])
RECONCILE = Counter(
    "payme_reconcile_pushes_total",
    "What reconciliation passes did with open pushes: checked, resolved, still_pending, expired, errors, skipped.",
    ["result"],
)
RECONCILE_RUNS = Counter("payme_reconcile_runs_total", "Reconciliation passes run.")
WEBHOOK_DELIVERIES = Counter(
    "payme_webhook_deliveries_total",
    "Webhook delivery attempts by outcome: succeeded, retrying (failed, another attempt is due), failed (given up).",
    ["outcome"],
)
PAYOUTS = Counter(
    "payme_payouts_total",
    "Payouts and refunds that reached a final status (succeeded, failed, needs_review), by kind.",
    ["kind", "status"],
)
WALLETS_MISMATCHED = Gauge(
    "payme_wallets_mismatched",
    "Wallets whose balance differs from the sum of their ledger, at the last check_wallets run.",
    multiprocess_mode="mostrecent",
)
WALLET_CHECK_TIME = Gauge(
    "payme_wallet_check_timestamp_seconds",
    "When check_wallets last ran (Unix time).",
    multiprocess_mode="mostrecent",
)


def _after_commit(fn) -> None:
    transaction.on_commit(fn)


# --- Payments ---------------------------------------------------------------------------------


def payment_started(purpose: str) -> None:
    _after_commit(lambda: PAYMENTS.labels(purpose, "started").inc())


def payment_finished(push) -> None:
    """A push reached ``push.status`` (call once, when the move was applied)."""
    purpose, outcome = push.purpose, push.status
    _after_commit(lambda: PAYMENTS.labels(purpose, outcome).inc())


# --- Callbacks ----------------------------------------------------------------------------------


def callback_received(outcome: str) -> None:
    CALLBACKS.labels(str(outcome)).inc()


# --- Daraja -------------------------------------------------------------------------------------


def daraja_call(api: str):
    """Decorator for a DarajaClient method: counts its result and times it."""

    def decorate(method):
        @functools.wraps(method)
        def wrapper(*args, **kwargs):
            from mpesa.daraja import DarajaInvalidRequest, DarajaRejected, DarajaUnavailable

            started = time.perf_counter()
            result, code = "accepted", ""
            try:
                answer = method(*args, **kwargs)
                if getattr(answer, "pending", False):
                    result = "pending"
                return answer
            except DarajaInvalidRequest:
                result = "invalid_request"
                raise
            except DarajaRejected as exc:
                result, code = "refused", str(exc.error_code)[:32]
                raise
            except DarajaUnavailable:
                result = "no_answer"
                raise
            except Exception:
                result = "error"
                raise
            finally:
                DARAJA_SECONDS.labels(api).observe(time.perf_counter() - started)
                DARAJA_CALLS.labels(api, result, code).inc()

        return wrapper

    return decorate


def oauth_token_minted(environment: str) -> None:
    OAUTH_TOKENS.labels(environment).inc()


# --- Webhooks and payouts ------------------------------------------------------------------------


def webhook_delivery_attempted(delivery) -> None:
    """An attempt was recorded and ``delivery.status`` is what it left (call inside its transaction)."""
    outcome = {"succeeded": "succeeded", "failed": "failed", "pending": "retrying"}.get(str(delivery.status), str(delivery.status))
    _after_commit(lambda: WEBHOOK_DELIVERIES.labels(outcome).inc())


def payout_finished(payout) -> None:
    """A payout followed its command to ``payout.status`` (call once, when the move was applied)."""
    kind, status = str(payout.kind), str(payout.status)
    _after_commit(lambda: PAYOUTS.labels(kind, status).inc())


# --- Scheduled jobs -----------------------------------------------------------------------------


def reconciled(counts: dict) -> None:
    RECONCILE_RUNS.inc()
    for result, value in counts.items():
        if value:
            RECONCILE.labels(result).inc(value)


def wallets_checked(mismatched: int) -> None:
    WALLETS_MISMATCHED.set(mismatched)
    WALLET_CHECK_TIME.set(time.time())


# --- Read at scrape time --------------------------------------------------------------------------


class DatabaseCollector:
    """Queue state read from the database when Prometheus scrapes (two indexed queries)."""

    def collect(self):
        from django.db.models import Count

        from mpesa.models import StkPush
        from mpesa.services import oldest_unsent_age_seconds

        age = GaugeMetricFamily(
            "payme_stk_push_oldest_unsent_age_seconds",
            "Age of the oldest push recorded but not yet claimed by a worker (0 when none): the workers' lag.",
        )
        age.add_metric([], oldest_unsent_age_seconds() or 0.0)
        yield age
        open_pushes = GaugeMetricFamily("payme_stk_pushes_open", "Pushes not final yet, by status.", labels=["status"])
        counts = dict(
            StkPush.objects.filter(status__in=StkPush.OPEN_STATUSES).order_by().values_list("status").annotate(n=Count("id"))
        )
        for status in StkPush.OPEN_STATUSES:
            open_pushes.add_metric([str(status)], counts.get(status, 0))
        yield open_pushes
        command_age = GaugeMetricFamily(
            "payme_daraja_command_oldest_unsent_age_seconds",
            "Age of the oldest Daraja command (B2C, reversal, status query, balance) recorded but not yet claimed "
            "by a worker (0 when none).",
        )
        command_age.add_metric([], oldest_unsent_command_age_seconds())
        yield command_age


def oldest_unsent_command_age_seconds(*, now=None) -> float:
    from django.utils import timezone

    from mpesa.models import DarajaCommand

    oldest = (
        DarajaCommand.objects.filter(status=DarajaCommand.Status.CREATED)
        .order_by("created_at").values_list("created_at", flat=True).first()
    )
    if oldest is None:
        return 0.0
    return max(0.0, ((now or timezone.now()) - oldest).total_seconds())


def exposition() -> bytes:
    """The text Prometheus scrapes: every process's metrics (multiprocess mode) or this one's,
    then the database's."""
    from prometheus_client import REGISTRY

    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        MultiProcessCollector(registry)
        processes = generate_latest(registry)
    else:
        processes = generate_latest(REGISTRY)
    database = CollectorRegistry()
    database.register(DatabaseCollector())
    return processes + generate_latest(database)
