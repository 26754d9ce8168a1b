from django.conf import settings
from django.db import DatabaseError, connection
from django.http import HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET


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


def noop(request):
    """The physical limit of this stack for benchmarks: routing + WSGI, no work. Only mounted
    when BENCH_NOOP_VIEW is on."""
    return HttpResponse(b'{"ok":true}', content_type="application/json")
