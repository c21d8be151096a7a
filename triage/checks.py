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


@register()
def check_model_encoder(app_configs: Any, **kwargs: Any) -> list[CheckMessage]:
    """New models need the encoder ASSIST_MODEL_ENCODER names: say so at start, not at
    the first training (and not by silently training the core stack instead)."""
    if not settings.MODEL_ENCODER:
        return []
    from triage.ml.encoder import EncoderUnavailableError, encoder_model_dir

    try:
        encoder_model_dir(settings.MODEL_ENCODER)
    except EncoderUnavailableError as exc:
        return [
            Error(
                f"ASSIST_MODEL_ENCODER={settings.MODEL_ENCODER} but the encoder cannot be loaded: {exc}",
                hint="Run make install (it installs the encoder), or set ASSIST_MODEL_ENCODER=none for the core stack.",
                id="assist.E002",
            )
        ]
    return []
