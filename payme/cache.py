"""Django's Redis cache, reusing one redis.Redis client per connection pool.

Django builds a new ``redis.Redis`` object for every cache operation (about half a millisecond
of Python each: it fills a table of ~170 response callbacks). The client is thread-safe and only
wraps the pool, so one per pool is enough. Measured in bench/: every Daraja call reads the
token from the cache, and every throttled request reads and writes it twice.
"""

from django.core.cache.backends.redis import RedisCache, RedisCacheClient


class ReusingRedisCacheClient(RedisCacheClient):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._clients = {}

    def get_client(self, key=None, *, write=False):
        pool = self._get_connection_pool(write)
        client = self._clients.get(id(pool))
        if client is None:
            client = self._clients[id(pool)] = self._client(connection_pool=pool)
        return client


class PaymeRedisCache(RedisCache):
    def __init__(self, server, params):
        super().__init__(server, params)
        self._class = ReusingRedisCacheClient
