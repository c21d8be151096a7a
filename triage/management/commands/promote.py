"""Make a model version live by hand: a promotion, or a rollback to an earlier one."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from triage.learning.promotion import PromotionError, model_promote
from triage.models import ModelVersion


class Command(BaseCommand):
    help = "Make model VERSION live (promote or roll back). Every process switches within seconds."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("version", type=int, help="the version number, as on the models page (v12 → 12)")
        parser.add_argument("--reason", default="promoted from the command line")

    def handle(self, *args: Any, **options: Any) -> None:
        version = ModelVersion.objects.filter(version=options["version"]).first()
        if version is None:
            raise CommandError(f"no model v{options['version']}")
        try:
            model_promote(version=version, user=None, reason=options["reason"])
        except PromotionError as exc:
            raise CommandError(str(exc)) from exc
        action = version.promotions.first()
        self.stdout.write(
            self.style.SUCCESS(f"v{version.version} is live ({action.get_action_display() if action else ''})")
        )
