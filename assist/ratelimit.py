"""Fixed-window request counters in Django's cache: one `incr` per request.

Shared by the API's per-token throttle (triage/api/throttling.py) and the anonymous
password-reset form. With REDIS_URL the cache is Redis, so every process counts
together; without it, each process counts its own. If the cache is unreachable the
request is let through (and logged): a Redis outage must not take the API down.
"""

from __future__ import annotations

import logging
import time

from django.core.cache import cache

logger = logging.getLogger(__name__)


def hit(key: str, *, limit: int, window_seconds: int) -> float | None:
    """Count one request against `key`; None while within `limit` in the current
    window, else the seconds until the window ends."""
    now = time.time()
    window = int(now // window_seconds)
    counter = f"ratelimit:{key}:{window}"
    try:
        cache.add(counter, 0, timeout=window_seconds + 1)
        count = cache.incr(counter)
    except Exception as exc:  # the cache is down: count nothing rather than refuse everything
        logger.warning("rate limit not applied (%s: %s)", type(exc).__name__, exc)
        return None
    if count <= limit:
        return None
    return (window + 1) * window_seconds - now
