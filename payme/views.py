import logging
import secrets

from django.conf import settings
from django.core.cache import cache
from django.db import DatabaseError, connection
from django.http import HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

logger = logging.getLogger(__name__)


@require_GET
def landing(request):
    """What "View site" and the URL `make run` prints open: where to go next (it was DEBUG's 404)."""
    simulator = settings.MPESA_ENV == "simulator"
    return render(request, "landing.html", {
        "simulator_url": request.build_absolute_uri("/simulator/daraja/") if simulator else None,
    })


@require_GET
def healthz(request):
    """Liveness with a database round trip: 200 when the DB answers, 503 when it does not."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except DatabaseError:
        return JsonResponse(
            {"status": "unavailable", "database": "unreachable"},
            status=503,
        )
    return JsonResponse({"status": "ok", "database": "ok"})


@require_GET
def readyz(request):
    """Readiness: the database, the cache and the broker answer (503 naming what does not), and how
    far the workers are behind — the age of the oldest push still waiting to be sent. A backlog is
    reported (``workers_behind``), not a reason to take this web process out of the load balancer:
    it can still take payments, which the workers send when they catch up."""
    from mpesa.services import oldest_unsent_age_seconds

    checks = {"database": _check(_database_answers), "cache": _check(_cache_answers), "broker": _check(_broker_answers)}
    ready = all(value == "ok" for value in checks.values())
    body = {"status": "ok" if ready else "unavailable", **checks}
    if checks["database"] == "ok":
        age = oldest_unsent_age_seconds()
        body["oldest_unsent_push_seconds"] = None if age is None else round(age, 1)
        body["workers_behind"] = age is not None and age > settings.READYZ_UNSENT_WARN_SECONDS
    return JsonResponse(body, status=200 if ready else 503)


def _check(probe) -> str:
    try:
        probe()
    except Exception as exc:  # a probe must answer, whatever the dependency throws
        logger.warning("readyz: %s failed (%s)", probe.__name__, type(exc).__name__)
        return "unreachable"
    return "ok"


def _database_answers():
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()


def _cache_answers():
    nonce = secrets.token_hex(8)
    cache.set("readyz:probe", nonce, 10)
    if cache.get("readyz:probe") != nonce:
        raise RuntimeError("the cache did not keep a value")


def _broker_answers():
    from payme.celery import app

    with app.connection_for_write() as conn:
        conn.ensure_connection(max_retries=1, timeout=2)


def noop(request):
    """The physical limit of this stack for benchmarks: routing + WSGI, no work. Only mounted
    when BENCH_NOOP_VIEW is on."""
    return HttpResponse(b'{"ok":true}', content_type="application/json")


@require_GET
def metrics(request):
    """Prometheus scrape endpoint. Only ``Authorization: Bearer <METRICS_TOKEN>`` gets the numbers;
    with no METRICS_TOKEN configured the endpoint does not exist (404)."""
    from payme.errors import error_body
    from payme.metrics import exposition

    expected = settings.METRICS_TOKEN
    if not expected:
        return JsonResponse(error_body("not_found", "Not found."), status=404)
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not secrets.compare_digest(given.strip().encode(), expected.encode()):
        response = JsonResponse(error_body("not_authenticated", "A valid metrics bearer token is required."), status=401)
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    return HttpResponse(exposition(), content_type="text/plain; version=0.0.4; charset=utf-8")
