"""API keys: how they are made and what is stored of them (their SHA-256 digest).
Kept apart from the services so the API's authentication imports only this."""

from __future__ import annotations

import hashlib
import secrets

from django.utils import timezone

from triage.accounts.models import ApiToken

# "ast_" tells a leaked key for what it is (secret scanners match such prefixes).
KEY_PREFIX = "ast_"
# Shown in lists to tell tokens apart: the prefix and four characters of the key.
SHOWN_CHARS = len(KEY_PREFIX) + 4
# A token's last use is written at most this often: a write per request would add a
# round trip to every ingest.
TOUCH_EVERY_SECONDS = 60


def new_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


def token_digest(key: str) -> str:
    """What is stored of an API key, and what the API looks a key up by."""
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


def api_token_touch(token: ApiToken) -> None:
    """Record that a token was used (at most every TOUCH_EVERY_SECONDS)."""
    now = timezone.now()
    if token.last_used_at is None or (now - token.last_used_at).total_seconds() > TOUCH_EVERY_SECONDS:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        token.last_used_at = now
