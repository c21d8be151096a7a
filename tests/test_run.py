"""`make run` on a busy port says so at once and how to pick another; it prints its
URL and logins only once the server answers."""

from __future__ import annotations

import socket
import subprocess
import sys
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.core.management import CommandError, call_command

ROOT = Path(__file__).resolve().parent.parent


def test_a_busy_port_is_refused_with_the_variable_that_picks_another() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(CommandError) as refused:
            call_command("checkport", "127.0.0.1", str(port))
    message = str(refused.value)
    assert f"Port {port} on 127.0.0.1 is already in use" in message
    assert f"make run PORT={port + 1}" in message and "HOST" in message
    call_command("checkport", "127.0.0.1", str(port))  # free again once closed


def test_make_run_checks_the_port_before_anything_else() -> None:
    plan = subprocess.run(
        ["make", "-n", "run", "HOST=127.0.0.1", "PORT=8123"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    assert plan.index("manage.py checkport 127.0.0.1 8123") < plan.index("manage.py migrate")
    procfile = (ROOT / "Procfile").read_text()
    assert "manage.py announce" in procfile and "feed_tickets" in procfile and "--wait" in procfile


def test_the_procfile_that_make_run_starts_is_one_honcho_accepts() -> None:
    honcho = Path(sys.executable).parent / "honcho"
    checked = subprocess.run([str(honcho), "check", "-f", "Procfile"], cwd=ROOT, capture_output=True, text=True)
    assert checked.returncode == 0, checked.stderr
    names = [line.split(":", 1)[0] for line in (ROOT / "Procfile").read_text().splitlines() if line.strip()]
    assert sorted(names) == ["announce", "feed", "integrations", "web", "worker"]


def test_the_url_and_logins_are_announced_only_once_the_server_answers(
    asgi_server: str, tmp_path: Path, monkeypatch: Any
) -> None:
    from triage.management.commands import announce

    logins = tmp_path / "logins.txt"
    logins.write_text("agent       agent / secret\n")
    monkeypatch.setattr(announce, "LOGINS_FILE", logins)
    out = StringIO()
    call_command("announce", url=asgi_server + "/", once=True, stdout=out)
    assert f"Assist is running at {asgi_server}/" in out.getvalue() and "agent / secret" in out.getvalue()

    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        nobody = f"http://127.0.0.1:{closed.getsockname()[1]}/"
    quiet = StringIO()
    with pytest.raises(CommandError, match="did not answer"):
        call_command("announce", url=nobody, once=True, timeout=0.5, stdout=quiet)
    assert "running at" not in quiet.getvalue()
