from django.conf import settings
from django.contrib import admin
from django.http import JsonResponse
from django.urls import include, path, re_path
from django.views.decorators.csrf import csrf_exempt
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from payme.errors import error_body
from payme.views import healthz, landing, metrics, noop, readyz

admin.site.site_header = "PayMe admin"
admin.site.site_title = "PayMe"
# The index names whose numbers it shows itself (templates/admin/payme_index.html).
admin.site.index_title = "Home"
admin.site.index_template = "admin/payme_index.html"

urlpatterns = [
    path("", landing, name="landing"),
    path("healthz", healthz, name="healthz"),
    path("readyz", readyz, name="readyz"),
    path("metrics", metrics, name="metrics"),
    path("admin/", admin.site.urls),
    re_path(r"^api/schema/?$", SpectacularAPIView.as_view(), name="schema"),
    re_path(r"^api/docs/?$", SpectacularSwaggerView.as_view(url_name="schema"), name="docs"),
    path("api/", include("accounts.urls")),
    path("api/", include("payment_configs.urls")),
    path("api/", include("wallet.urls")),
    path("api/", include("sales.urls")),
    path("api/", include("payouts.urls")),
    path("api/", include("mpesa.urls")),
    path("api/", include("audit.urls")),
    path("api/", include("webhooks.urls")),
]

if settings.MPESA_ENV == "simulator":
    urlpatterns.append(path("simulator/daraja/", include("mpesa.simulator.urls")))

if getattr(settings, "BENCH_NOOP_VIEW", False):
    urlpatterns.append(path("bench/noop", noop))


@csrf_exempt
def not_found(request, exception=None):
    return JsonResponse(error_body("not_found", "Not found."), status=404)


def server_error(request):
    return JsonResponse(error_body("internal_error", "Something went wrong on our side. It has been logged."), status=500)


# Unknown API paths answer JSON in every mode (DEBUG's technical 404 page is HTML).
urlpatterns.append(re_path(r"^api/", not_found))

handler404 = not_found
handler500 = server_error
