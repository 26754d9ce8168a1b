from django.db import DatabaseError, connection
from django.http import HttpResponse, JsonResponse
from django.views.decorators.http import require_GET


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
