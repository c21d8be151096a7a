"""Loaded by pytest before Django's settings (`-p tests.local_dev` in pyproject.toml): the
suite runs in local development mode, as `make run` does (assist/settings.py, LOCAL_DEV)."""

import os

os.environ.setdefault("ASSIST_LOCAL_DEV", "1")
