from django.urls import path, re_path

from mpesa.simulator import views

urlpatterns = [
    path("oauth/v1/generate", views.oauth, name="sim-oauth"),
    path("mpesa/stkpush/v1/processrequest", views.stk_push, name="sim-stkpush"),
    path("mpesa/stkpushquery/v1/query", views.stk_query, name="sim-stkquery"),
    path("mpesa/b2c/v3/paymentrequest", views.b2c_v3, name="sim-b2c"),
    path("mpesa/b2c/v1/paymentrequest", views.b2c_v1, name="sim-b2c-v1"),
    path("mpesa/reversal/v1/request", views.reversal, name="sim-reversal"),
    path("mpesa/transactionstatus/v1/query", views.transaction_status, name="sim-transactionstatus"),
    path("mpesa/accountbalance/v1/query", views.account_balance, name="sim-accountbalance"),
    path("mpesa/c2b/v1/registerurl", views.c2b_register_v1, name="sim-c2b-register-v1"),
    path("mpesa/c2b/v2/registerurl", views.c2b_register_v2, name="sim-c2b-register"),
    path("mpesa/c2b/v1/simulate", views.c2b_simulate_v1, name="sim-c2b-simulate-v1"),
    path("mpesa/c2b/v2/simulate", views.c2b_simulate_v2, name="sim-c2b-simulate"),
    # Anything else under the simulator: Daraja's JSON 404 envelope, not Django's HTML page.
    re_path(r"", views.not_found, name="sim-not-found"),
]

# Used when this module is the root URLconf (the stand-alone server, mpesa/simulator/server.py).
handler404 = views.not_found
handler500 = views.server_error
