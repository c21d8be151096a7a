"""`manage.py issue_token USER NAME`: an API key for an integration, from the shell (the
same as the Tokens page under /taxonomy/tokens/); the key is printed once."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import User
from django.core.management.base import BaseCommand, CommandError, CommandParser

from triage.accounts import services
from triage.taxonomy.services import TaxonomyError


class Command(BaseCommand):
    help = "Issue an API token to a user (the token carries the user's role); prints the key once."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")
        parser.add_argument("name", help="what uses the token, e.g. 'Zendesk webhook'")

    def handle(self, *args: Any, username: str, name: str, **options: Any) -> None:
        user = User.objects.filter(username=username).first()
        if user is None:
            raise CommandError(f"No user named {username!r}.")
        try:
            issued = services.api_token_issue(actor=None, user_id=user.pk, name=name)
        except TaxonomyError as exc:
            raise CommandError(exc.message) from None
        self.stdout.write(issued.key)
