import pytest

from payme.cache import PaymeRedisCache


@pytest.fixture
def redis_cache():
    cache = PaymeRedisCache("redis://127.0.0.1:6379/8", {})
    try:
        cache.clear()
    except Exception:
        pytest.skip("Redis is not reachable on 127.0.0.1:6379")
    yield cache
    cache.clear()


def test_redis_cache_works_and_reuses_one_client(redis_cache):
    assert redis_cache.add("lock", "1", timeout=5) is True
    assert redis_cache.add("lock", "1", timeout=5) is False
    redis_cache.set("token", {"t": "abc"}, timeout=5)
    assert redis_cache.get("token") == {"t": "abc"}
    redis_cache.delete("lock")
    assert redis_cache.add("lock", "2", timeout=5) is True
    client = redis_cache._cache
    assert client.get_client(write=True) is client.get_client(write=True)
