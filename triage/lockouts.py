"""Login lockouts (django-axes): which are in force, and an admin lifting one."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from axes.models import AccessAttempt
from axes.utils import reset
from django.conf import settings
from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Lockout:
    username: str
    ip_address: str
    failures: int
    last_attempt: datetime


def lockouts_in_force() -> list[Lockout]:
    """Username and address pairs locked out now, the most recent first."""
    since = timezone.now() - settings.AXES_COOLOFF_TIME
    attempts = AccessAttempt.objects.filter(
        failures_since_start__gte=settings.AXES_FAILURE_LIMIT, attempt_time__gte=since
    ).order_by("-attempt_time")
    return [Lockout(a.username or "", a.ip_address or "", a.failures_since_start, a.attempt_time) for a in attempts]


@transaction.atomic
def lockout_lift(*, actor: User, username: str) -> int:
    """Lift every lockout of `username` (all addresses); returns how many were lifted."""
    lifted = reset(username=username)
    logger.info("%s lifted %d login lockout(s) of %r", actor.get_username(), lifted, username)
    return lifted
