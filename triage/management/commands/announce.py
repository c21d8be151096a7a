"""The last line of `make run`: once the web server answers, print its URL and the
demo logins (so "running at" is only said of a server that is listening), then stay
up beside the other processes (honcho stops them all when one ends)."""

from __future__ import annotations

import threading
import time
from typing import Any

import requests
from django.core.management.base import BaseCommand, CommandError, CommandParser

from triage.management.commands.seed_demo import LOGINS_FILE


def wait_until_serving(url: str, timeout: float) -> bool:
    """Whether `url`healthz answered 200 within `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if requests.get(url.rstrip("/") + "/healthz", timeout=2).status_code == 200:
                return True
        except requests.RequestException:
            pass
        time.sleep(0.25)
    return False


class Command(BaseCommand):
    help = "Wait for the web server, then print its URL and the demo logins."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--url", default="http://127.0.0.1:8000/")
        parser.add_argument("--timeout", type=float, default=180.0, help="seconds to wait for the server")
        parser.add_argument("--once", action="store_true", help="exit after printing (default: stay up)")

    def handle(self, *args: Any, **options: Any) -> None:
        url = options["url"]
        if not wait_until_serving(url, options["timeout"]):
            raise CommandError(f"the web server did not answer at {url} within {options['timeout']:g} s: see its log")
        self.stdout.write("")
        self.stdout.write(self.style.SUCCESS(f"Assist is running at {url}"))
        if LOGINS_FILE.exists():
            self.stdout.write("Logins:")
            for line in LOGINS_FILE.read_text().splitlines():
                self.stdout.write("  " + line)
        else:
            self.stdout.write("Logins: run `python manage.py seed_demo` to (re)create the demo users and passwords.")
        self.stdout.write("Stop with Ctrl-C.\n")
        self.stdout.flush()
        if not options["once"]:
            threading.Event().wait()  # until honcho stops the processes
