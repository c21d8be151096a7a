"""Development keys never reach a real deployment, and HSTS reaches no further than asked."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from django.test import Client

ROOT = Path(__file__).resolve().parent.parent
START = "import django; django.setup()"
REAL_SECRET = "s3cr3t-" + "abcdefghij" * 6
REAL_SIGNING = "signing-" + "klmnopqrst" * 4
REAL_CREDENTIALS = "credentials-" + "uvwxyzabcd" * 4
REAL_KEYS = {
    "DJANGO_SECRET_KEY": REAL_SECRET,
    "MODEL_SIGNING_KEY": REAL_SIGNING,
    "ASSIST_CREDENTIALS_KEY": REAL_CREDENTIALS,
}


def _env(**values: str) -> dict[str, str]:
    """This process's environment without the keys or the local-development mode, plus `values`."""
    dropped = {"ASSIST_LOCAL_DEV", "DJANGO_SECRET_KEY", "MODEL_SIGNING_KEY", "ASSIST_CREDENTIALS_KEY", "DJANGO_DEBUG"}
    env = {k: v for k, v in os.environ.items() if k not in dropped}
    return {**env, "DJANGO_SETTINGS_MODULE": "assist.settings", **values}


def _run(code: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, cwd=ROOT, check=False)


@pytest.mark.parametrize(
    ("keys", "named"),
    [
        ({}, "DJANGO_SECRET_KEY is unset or empty"),
        ({"DJANGO_SECRET_KEY": REAL_SECRET}, "MODEL_SIGNING_KEY is unset or empty"),
        ({"DJANGO_SECRET_KEY": REAL_SECRET, "MODEL_SIGNING_KEY": ""}, "MODEL_SIGNING_KEY is unset or empty"),
        ({"DJANGO_SECRET_KEY": REAL_SECRET, "MODEL_SIGNING_KEY": "  "}, "MODEL_SIGNING_KEY is unset or empty"),
        (
            {"DJANGO_SECRET_KEY": REAL_SECRET, "MODEL_SIGNING_KEY": "assist-development-only-model-signing-key"},
            "MODEL_SIGNING_KEY is the committed development key",
        ),
        (
            {"DJANGO_SECRET_KEY": "django-insecure-assist-development-only-key-do-not-use-in-production"},
            "DJANGO_SECRET_KEY is the committed development key",
        ),
        (
            {"DJANGO_SECRET_KEY": REAL_SECRET, "MODEL_SIGNING_KEY": REAL_SIGNING},
            "ASSIST_CREDENTIALS_KEY is unset or empty",
        ),
        (
            {**REAL_KEYS, "ASSIST_CREDENTIALS_KEY": "assist-development-only-credentials-key"},
            "ASSIST_CREDENTIALS_KEY is the committed development key",
        ),
    ],
)
def test_a_process_outside_local_development_refuses_to_start_without_real_keys(
    keys: dict[str, str], named: str
) -> None:
    refused = _run(START, _env(**keys))
    assert refused.returncode != 0 and named in refused.stderr, refused.stderr[-500:]


def test_a_process_starts_with_real_keys_or_in_local_development() -> None:
    started = _run(START, _env(**REAL_KEYS))
    assert started.returncode == 0, started.stderr[-500:]
    code = START + "; from django.conf import settings; print(settings.MODEL_SIGNING_KEY)"
    local = _run(code, _env(ASSIST_LOCAL_DEV="1"))
    assert local.returncode == 0 and local.stdout.strip() == "assist-development-only-model-signing-key"


def test_check_deploy_fails_with_an_error_on_the_development_secret_key() -> None:
    check = [sys.executable, "manage.py", "check", "--deploy"]
    env = _env(ASSIST_LOCAL_DEV="1", MODEL_SIGNING_KEY=REAL_SIGNING, ASSIST_CREDENTIALS_KEY=REAL_CREDENTIALS)
    failed = subprocess.run(check, env=env, capture_output=True, text=True, cwd=ROOT, check=False)
    assert failed.returncode != 0 and "assist.E002" in failed.stderr and "ERRORS" in failed.stderr, failed.stderr
    env["DJANGO_SECRET_KEY"] = REAL_SECRET
    passed = subprocess.run(check, env=env, capture_output=True, text=True, cwd=ROOT, check=False)
    assert "assist.E002" not in passed.stderr + passed.stdout


def test_hsts_is_modest_by_default_and_subdomains_and_preload_are_opt_in(settings: Any, db: Any) -> None:
    settings.SECURE_HSTS_SECONDS = 3600  # the default outside DEBUG (the suite's fixture turns it off)
    header = Client().get("/healthz", secure=True)["Strict-Transport-Security"]
    assert header == "max-age=3600"
    settings.SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    settings.SECURE_HSTS_PRELOAD = True
    settings.SECURE_HSTS_SECONDS = 31_536_000
    header = Client().get("/healthz", secure=True)["Strict-Transport-Security"]
    assert header == "max-age=31536000; includeSubDomains; preload"


def test_the_settings_default_to_an_hour_of_hsts_without_subdomains_or_preload() -> None:
    code = START + (
        "; from django.conf import settings as s;"
        " print(s.SECURE_HSTS_SECONDS, s.SECURE_HSTS_INCLUDE_SUBDOMAINS, s.SECURE_HSTS_PRELOAD)"
    )
    shown = _run(code, _env(**REAL_KEYS))
    assert shown.stdout.split() == ["3600", "False", "False"], shown.stderr[-300:]


@pytest.mark.parametrize(
    ("weak", "error"),
    [
        ({"MODEL_SIGNING_KEY": "short-but-real-signing-key"}, "assist.E001"),
        ({"ASSIST_CREDENTIALS_KEY": "short-but-real-credentials"}, "assist.E005"),
        ({"DJANGO_SECRET_KEY": "short-but-real-secret-key"}, "assist.E002"),
    ],
)
def test_check_deploy_fails_on_a_real_but_weak_key_outside_local_development(weak: dict[str, str], error: str) -> None:
    check = [sys.executable, "manage.py", "check", "--deploy"]
    env = _env(**{**REAL_KEYS, **weak})
    failed = subprocess.run(check, env=env, capture_output=True, text=True, cwd=ROOT, check=False)
    assert failed.returncode != 0 and error in failed.stderr, failed.stderr[-800:]


def test_reset_mail_goes_to_the_log_unless_a_relay_is_configured() -> None:
    code = START + "; from django.conf import settings as s; print(s.EMAIL_BACKEND.rsplit('.', 2)[-2], s.EMAIL_HOST)"
    without = _run(code, {k: v for k, v in _env(**REAL_KEYS).items() if not k.startswith("EMAIL_")})
    relay = _run(code, _env(**REAL_KEYS, EMAIL_HOST="smtp.example.com"))
    assert without.stdout.split() == ["console"], without.stderr[-300:]
    assert relay.stdout.split() == ["smtp", "smtp.example.com"], relay.stderr[-300:]
