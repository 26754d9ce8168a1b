"""Rate limits: DRF's sliding window (at most N requests in any period), kept in one Redis
sorted set per key and checked by one script when the cache is Redis.

DRF's ``SimpleRateThrottle`` reads the whole request history (a pickled list of timestamps) from
the cache and writes it back on every request: two round trips, and work that grows with the
rate (at 120/min a busy business carries 120 timestamps each way). On Redis the same window lives
in a sorted set that one Lua script trims, counts and appends to atomically: one round trip, the
same answers, and two concurrent requests can no longer both take the last slot. Other caches
(the local-memory cache of `make run` and the unit tests) keep DRF's own code.
"""

import os

from django.conf import settings
from django.core.cache import DEFAULT_CACHE_ALIAS, caches
from django.core.cache import cache as default_cache
from rest_framework.throttling import SimpleRateThrottle

from payme.cache import PaymeRedisCache

# KEYS[1]: the window. ARGV: now (seconds), the period, the limit, a unique member.
# Returns {allowed, requests in the window, the oldest one's time when refused}.
_SLIDING_WINDOW = """
local now, period, limit = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - period)
local count = redis.call('ZCARD', KEYS[1])
if count < limit then
  redis.call('ZADD', KEYS[1], now, ARGV[4])
  redis.call('PEXPIRE', KEYS[1], math.ceil(period * 1000))
  return {1, count + 1, ''}
end
return {0, count, redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')[2] or ''}
"""
_scripts = {}  # one registered script per redis client (PaymeRedisCache keeps one per pool)


def _script(client):
    script = _scripts.get(id(client))
    if script is None:
        script = _scripts[id(client)] = client.register_script(_SLIDING_WINDOW)
    return script


class _SettingRateThrottle(SimpleRateThrottle):
    """Reads its rate from settings at call time, so deployments and tests can change it."""

    setting_name = ""

    def get_rate(self):
        return getattr(settings, self.setting_name)

    def allow_request(self, request, view):
        # DRF's ``cache`` is the default cache's proxy; the backend behind it decides.
        cache = caches[DEFAULT_CACHE_ALIAS] if self.cache is default_cache else self.cache
        if self.rate is None or not isinstance(cache, PaymeRedisCache):
            return super().allow_request(request, view)
        self.key = self.get_cache_key(request, view)
        if self.key is None:
            return True
        self.now = self.timer()
        # Not DRF's key: a pickled list may still sit there for a period after an upgrade.
        key = cache.make_and_validate_key(self.key + "_window")
        allowed, self._count, oldest = _script(cache._cache.get_client(key, write=True))(
            keys=[key], args=[repr(self.now), self.duration, self.num_requests, f"{self.now!r}:{os.urandom(6).hex()}"],
        )
        self._oldest = float(oldest) if oldest else None
        return bool(allowed)

    def wait(self):
        if not hasattr(self, "_count"):
            return super().wait()
        # DRF's formula, from the window's size and its oldest request.
        remaining = self.duration - (self.now - self._oldest) if self._oldest is not None else self.duration
        available = self.num_requests - self._count + 1
        return remaining / available if available > 0 else None


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
