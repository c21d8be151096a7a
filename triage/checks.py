"""System checks for misconfiguration that would be unsafe in production.

(With ASSIST_PRODUCTION set, settings.py itself refuses to start on the development
keys, before any check could run.)"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Error, Tags, register


@register(Tags.security, deploy=True)
def check_model_signing_key(app_configs: Any, **kwargs: Any) -> list[CheckMessage]:
    errors: list[CheckMessage] = []
    if settings.MODEL_SIGNING_KEY == settings.INSECURE_DEV_SIGNING_KEY or len(settings.MODEL_SIGNING_KEY) < 32:
        errors.append(
            Error(
                "MODEL_SIGNING_KEY is the development default or shorter than 32 characters.",
                hint="Set MODEL_SIGNING_KEY in the environment to a long random value.",
                id="assist.E001",
            )
        )
    return errors
