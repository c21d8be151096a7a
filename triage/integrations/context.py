"""The header's "Integrations" link warns admins of disabled endpoints and failing
mailboxes on every page (read only when an admin's page renders the link)."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest


def integration_alerts(request: HttpRequest) -> dict[str, Any]:
    from triage.integrations.selectors import alerts

    return {"integration_alerts": lambda: alerts().total}
