from django.urls import re_path

from payment_configs import apis

urlpatterns = [
    re_path(r"^payment-config/setup/?$", apis.PaymentConfigSetupApi.as_view(), name="payment-config-setup"),
    re_path(r"^payment-config/verify/?$", apis.PaymentConfigVerifyApi.as_view(), name="payment-config-verify"),
    re_path(r"^payment-config/c2b/register/?$", apis.PaymentConfigC2BRegisterApi.as_view(), name="payment-config-c2b-register"),
    re_path(r"^payment-config/c2b/?$", apis.PaymentConfigC2BApi.as_view(), name="payment-config-c2b"),
    re_path(r"^payment-config/?$", apis.PaymentConfigApi.as_view(), name="payment-config"),
]
