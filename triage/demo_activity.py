"""A morning of demo agents' work, so a fresh `make run` has decisions to report on.

`prepare` calls `demo_decisions_make` once, after the first model is trained: demo
tickets go in through `ticket_ingest` like any other ticket (classified by the live
model, some in the blind slice) and two demo agents decide them through
`ticket_triage`, mostly right, sometimes wrong, sometimes correcting each other, at a
human pace. The reports, the quality-check list and the retrain trigger then show
something real on the first visit.
"""

from __future__ import annotations

import random

from django.contrib.auth.models import User

from triage import demo, services
from triage.models import Category

DEMO_SOURCE = "demo-activity"


def demo_decisions_make(*, agents: list[User], count: int = 400, seed: int = 77) -> int:
    """Ingest `count` demo tickets and have `agents` decide them; returns the decisions stored."""
    rng = random.Random(seed)
    categories = {c.slug: c for c in Category.objects.filter(is_active=True)}
    slugs = sorted(categories)
    stored = 0
    for i, example in enumerate(demo.generate(count, seed=seed)):
        if example.category not in categories:
            continue
        result = services.ticket_ingest(
            subject=example.subject,
            body=example.body,
            source=DEMO_SOURCE,
            external_id=f"a{i}",
            channel=example.channel,
            customer_ref=example.customer_ref,
        )
        if not result.created:
            continue
        truth = categories[example.category]
        # Agents get about 1 in 40 wrong: the quality-check list has something to find.
        chosen = truth if rng.random() > 0.025 else categories[rng.choice(slugs)]
        agent = agents[i % len(agents)]
        services.ticket_triage(
            ticket=result.ticket, agent=agent, category=chosen, seconds_taken=round(rng.uniform(3, 45), 1)
        )
        stored += 1
    return stored
