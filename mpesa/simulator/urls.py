from django.urls import path, re_path

from mpesa.simulator import views

urlpatterns = [
    path("oauth/v1/generate", views.oauth, name="sim-oauth"),
    path("mpesa/stkpush/v1/processrequest", views.stk_push, name="sim-stkpush"),
    path("mpesa/stkpushquery/v1/query", views.stk_query, name="sim-stkquery"),
    # Anything else under the simulator: Daraja's JSON 404 envelope, not Django's HTML page.
    re_path(r"", views.not_found, name="sim-not-found"),
]

# Used when this module is the root URLconf (the stand-alone server, mpesa/simulator/server.py).
handler404 = views.not_found
handler500 = views.server_error
