"""Reads for the quality-check list and the ticket page of the reports."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from triage.models import QualityCheck, Ticket


def quality_checks_pending(*, limit: int = 100) -> QuerySet[QualityCheck]:
    """Accepted suggestions waiting for a supervisor's verdict, oldest first."""
    return (
        QualityCheck.objects.filter(reviewed_at__isnull=True)
        .select_related("ticket", "decision__chosen", "decision__agent")
        .order_by("created_at", "id")[:limit]
    )


def quality_checks_reviewed(*, limit: int = 20) -> QuerySet[QualityCheck]:
    return (
        QualityCheck.objects.filter(reviewed_at__isnull=False)
        .select_related("ticket", "decision__chosen", "verdict", "reviewer")
        .order_by("-reviewed_at")[:limit]
    )


def ticket_history(ticket: Ticket) -> dict[str, Any]:
    """A ticket's predictions (live and shadow), decisions and quality checks."""
    return {
        "predictions": ticket.predictions.select_related("suggested", "model_version").order_by("-is_live", "id"),
        "decisions": ticket.decisions.select_related(
            "agent", "suggested", "chosen", "model_version", "undo", "undo__agent"
        ).order_by("id"),
        "checks": ticket.quality_checks.select_related("reviewer", "verdict").order_by("id"),
    }
