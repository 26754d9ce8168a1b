from django.conf import settings
from rest_framework.throttling import SimpleRateThrottle


class _SettingRateThrottle(SimpleRateThrottle):
    """Reads its rate from settings at call time, so deployments and tests can change it."""

    setting_name = ""

    def get_rate(self):
        return getattr(settings, self.setting_name)


class AuthRateThrottle(_SettingRateThrottle):
    """Per client IP, for sign-in and sign-up (password guessing, account spraying)."""

    scope = "auth"
    setting_name = "AUTH_THROTTLE_RATE"

    def get_cache_key(self, request, view):
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}


class PaymentRateThrottle(_SettingRateThrottle):
    """Per business, for endpoints that start an STK push."""

    scope = "payment"
    setting_name = "PAYMENT_THROTTLE_RATE"

    def get_cache_key(self, request, view):
        tenant = getattr(request, "tenant", None)
        ident = f"b{tenant.business.pk}" if tenant else self.get_ident(request)
        return self.cache_format % {"scope": self.scope, "ident": ident}
