"""DRF's `drf_create_token` would store a key that Assist's API never accepts (Assist keeps
only digests of its own tokens): refuse it and name the command that works."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError


class Command(BaseCommand):
    help = "Not used by Assist: run `manage.py issue_token USER NAME` instead."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("args", nargs="*")

    def handle(self, *args: Any, **options: Any) -> None:
        raise CommandError(
            "Assist does not use DRF's tokens: run `manage.py issue_token USER NAME` or issue one on /taxonomy/tokens/."
        )
