"""Known decisions for the report tests: every expected figure below is worked out by hand."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from unittest import mock

from django.contrib.auth.models import User

from triage import services
from triage.models import Category, ModelVersion, Prediction, Ticket

# Monday 2 and Tuesday 10 November 2026: two ISO weeks.
DAY1 = datetime(2026, 11, 2, 10, 0, tzinfo=UTC)
DAY2 = datetime(2026, 11, 10, 10, 0, tzinfo=UTC)
RANGE = {"from": "2026-11-01", "to": "2026-11-15"}

# (suggested, chosen, confidence): rows 1-5 on DAY1, 6-10 on DAY2; odd rows by alice,
# even rows by bob; row i took i * 10 seconds.
ROWS = [
    ("alpha", "alpha", 0.95),
    ("alpha", "alpha", 0.90),
    ("alpha", "beta", 0.85),
    ("beta", "beta", 0.80),
    ("beta", "beta", 0.70),
    ("beta", "alpha", 0.60),
    ("gamma", "gamma", 0.99),
    ("gamma", "beta", 0.40),
    ("alpha", "alpha", 0.97),
    ("beta", "beta", 0.92),
]


@dataclass
class Seeded:
    categories: dict[str, Category]
    version: ModelVersion
    tickets: list[Ticket]
    alice: User
    bob: User


def at(when: datetime) -> Any:
    """The clock at `when` (decisions take their time from it)."""
    return mock.patch("django.utils.timezone.now", return_value=when)


def seed(alice: User, bob: User, *, override_first: bool = True) -> Seeded:
    categories = {
        slug: Category.objects.create(slug=slug, name=slug.capitalize()) for slug in ("alpha", "beta", "gamma")
    }
    version = ModelVersion.objects.create(
        version=1, status=ModelVersion.Status.ACTIVE, artifact="models/none.skops", sha256="-", hmac="-"
    )
    tickets = []
    for i, (suggested, chosen, confidence) in enumerate(ROWS, start=1):
        when = (DAY1 if i <= 5 else DAY2) + timedelta(minutes=i)
        with at(when - timedelta(minutes=1)):
            ticket = Ticket.objects.create(
                subject=f"<b>ticket {i}</b>", body=f"lost card number {i}", received_at=when, language="en"
            )
            Prediction.objects.create(
                ticket=ticket, model_version=version, suggested=categories[suggested], confidence=confidence
            )
        with at(when):
            services.ticket_triage(
                ticket=ticket, agent=alice if i % 2 else bob, category=categories[chosen], seconds_taken=i * 10.0
            )
        tickets.append(ticket)
    if override_first:
        # Bob changes alice's first ticket later: a decision recorded, not applied.
        with at(DAY1 + timedelta(hours=2)):
            services.ticket_triage(ticket=tickets[0], agent=bob, category=categories["beta"])
    return Seeded(categories, version, tickets, alice, bob)
