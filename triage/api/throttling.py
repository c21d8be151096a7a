"""The API's throttle: requests a minute per user (a token carries its user), through
DRF's throttling, so a refusal is a 429 with Retry-After."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from rest_framework.request import Request
from rest_framework.throttling import BaseThrottle

from assist.ratelimit import hit


class PerUserRate(BaseThrottle):
    def __init__(self) -> None:
        self.wait_seconds: float | None = None

    def allow_request(self, request: Request, view: Any) -> bool:
        user = request.user
        if user is None or not user.is_authenticated or settings.API_REQUESTS_PER_MINUTE <= 0:
            return True  # refused anyway (401), or throttling switched off
        self.wait_seconds = hit(f"api:user:{user.pk}", limit=settings.API_REQUESTS_PER_MINUTE, window_seconds=60)
        return self.wait_seconds is None

    def wait(self) -> float | None:
        return self.wait_seconds
