"""The API matches its OpenAPI schema: schemathesis runs every check over /api/schema/
against the real server, and real answers are validated against the schema."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import api_key

ROOT = Path(__file__).resolve().parent.parent
SCHEMATHESIS = str(Path(sys.executable).parent / "schemathesis")


@pytest.mark.django_db(transaction=True)
@pytest.mark.timeout(1800)  # a few hundred requests an operation, each one classified; slow on a busy machine
def test_schemathesis_finds_nothing_over_the_whole_api(
    asgi_server: str, admin_user: Any, live_model: Any, tmp_path: Path
) -> None:
    token = api_key(admin_user)
    run = subprocess.run(
        [
            SCHEMATHESIS, "run", f"{asgi_server}/api/schema/",
            "--checks", "all",
            "--max-examples", "200",
            "--seed", "1",
            "--header", f"Authorization: Token {token}",
            "--workers", "1",
            "--no-color",
            "--report-dir", str(tmp_path),
        ],
        env={**os.environ, "SCHEMATHESIS_HOOKS": "tests.schemathesis_hooks", "PYTHONPATH": str(ROOT)},
        capture_output=True, text=True, cwd=tmp_path, timeout=900, check=False,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout[-20000:] + run.stderr[-3000:]
