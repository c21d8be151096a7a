"""System checks for misconfiguration that would be unsafe in production.

Outside local development the settings refuse to load at all with a missing or
development key (assist/settings.py, `env_key`). The deploy checks below catch what gets
past that: a real but short or weak key in any mode, and the development keys under
ASSIST_LOCAL_DEV=1. They are errors, not warnings, so `check --deploy` fails on them.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Error, Tags, Warning, register

# Django's own bar for a secret key (security.W009), raised here from a warning to an error.
SECRET_KEY_MIN_LENGTH = 50
SECRET_KEY_MIN_UNIQUE_CHARACTERS = 5


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


@register(Tags.security, deploy=True)
def check_credentials_key(app_configs: Any, **kwargs: Any) -> list[CheckMessage]:
    if settings.CREDENTIALS_KEY == settings.INSECURE_DEV_CREDENTIALS_KEY or len(settings.CREDENTIALS_KEY) < 32:
        return [
            Error(
                "ASSIST_CREDENTIALS_KEY is the development default or shorter than 32 characters.",
                hint="Set ASSIST_CREDENTIALS_KEY in the environment to a long random value; it encrypts "
                "stored mailbox passwords and webhook secrets, so keep it with your backups.",
                id="assist.E005",
            )
        ]
    return []


@register(Tags.security, deploy=True)
def check_secret_key(app_configs: Any, **kwargs: Any) -> list[CheckMessage]:
    key = str(settings.SECRET_KEY)
    if (
        key == settings.INSECURE_DEV_SECRET_KEY
        or key.startswith("django-insecure-")
        or len(key) < SECRET_KEY_MIN_LENGTH
        or len(set(key)) < SECRET_KEY_MIN_UNIQUE_CHARACTERS
    ):
        return [
            Error(
                "DJANGO_SECRET_KEY is the development default or too weak "
                f"(under {SECRET_KEY_MIN_LENGTH} characters or {SECRET_KEY_MIN_UNIQUE_CHARACTERS} distinct ones).",
                hint="Set DJANGO_SECRET_KEY in the environment to a long random value.",
                id="assist.E002",
            )
        ]
    return []


@register(Tags.security, deploy=True)
def check_hsts_preload(app_configs: Any, **kwargs: Any) -> list[CheckMessage]:
    """The preload list only takes a site whose header covers subdomains for a year or more."""
    if settings.SECURE_HSTS_PRELOAD and (
        not settings.SECURE_HSTS_INCLUDE_SUBDOMAINS or settings.SECURE_HSTS_SECONDS < 31_536_000
    ):
        return [
            Warning(
                "DJANGO_HSTS_PRELOAD is on, but the header does not qualify for the browsers' preload list.",
                hint="Preloading needs DJANGO_HSTS_INCLUDE_SUBDOMAINS=1 and DJANGO_HSTS_SECONDS of 31536000 or more.",
                id="assist.W003",
            )
        ]
    return []


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
                id="assist.E004",
            )
        ]
    return []
