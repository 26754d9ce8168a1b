from django.urls import path

from mpesa.simulator import views

urlpatterns = [
    path("oauth/v1/generate", views.oauth, name="sim-oauth"),
    path("mpesa/stkpush/v1/processrequest", views.stk_push, name="sim-stkpush"),
    path("mpesa/stkpushquery/v1/query", views.stk_query, name="sim-stkquery"),
]
