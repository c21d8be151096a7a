"""Probes of the services Assist depends on, for /healthz."""

from __future__ import annotations

import functools

import redis
from django.conf import settings

# A probe must answer quickly even when Redis hangs rather than refuses.
PROBE_TIMEOUT_SECONDS = 0.5


@functools.cache
def _client(url: str) -> redis.Redis:
    # One pooled client per process: /healthz is polled often.
    return redis.Redis.from_url(url, socket_connect_timeout=PROBE_TIMEOUT_SECONDS, socket_timeout=PROBE_TIMEOUT_SECONDS)


def redis_status() -> str:
    """ "ok" or "down", or "not used" without REDIS_URL (the in-memory layer, the filesystem broker)."""
    if not settings.REDIS_URL:
        return "not used"
    try:
        _client(settings.REDIS_URL).ping()
    except (redis.RedisError, OSError):
        return "down"
    return "ok"
