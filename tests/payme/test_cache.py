def test_redis_cache_works_and_reuses_one_client(redis_cache):
    assert redis_cache.add("lock", "1", timeout=5) is True
    assert redis_cache.add("lock", "1", timeout=5) is False
    redis_cache.set("token", {"t": "abc"}, timeout=5)
    assert redis_cache.get("token") == {"t": "abc"}
    redis_cache.delete("lock")
    assert redis_cache.add("lock", "2", timeout=5) is True
    client = redis_cache._cache
    assert client.get_client(write=True) is client.get_client(write=True)
