"""A month of demo agents' work, so a fresh `make run` has history to report on.

`prepare` calls `demo_month_make` once, after the first model is trained on the seeded
history (which ends `weeks` ago): demo tickets arrive over those weeks at office hours
(fewer at weekends, and a burst of declined cards in the last fortnight: an outage the
drift report picks up), go in through `ticket_ingest` like any other ticket, and
three demo agents decide them through `ticket_triage` at a human pace, mostly right,
the newest agent less so. Twice along the way the model is retrained through the real
lifecycle (`retrain_request` + `training_run_execute`: the gate decides), so the
reports show acceptance per model version with promotions, weekly drift, and agents.

Every row keeps the time it happened: Django's clock is set to that moment while it
is written (auto_now_add fields and the services read it), and the decision table is
append-only, so nothing is back-dated afterwards. The last retrain comes late enough
that the decisions after it stay under RETRAIN_AFTER_DECISIONS (so the first start does
not retrain by itself) and early enough that the live model has a week or more of
traffic for the drift report.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from unittest import mock

from django.conf import settings
from django.contrib.auth.models import User
from django.utils import timezone

from triage import demo, services, serving
from triage.learning.services import retrain_request, training_run_execute
from triage.models import Category, TrainingRun

DEMO_SOURCE = "demo-activity"
# Arrivals per day: office hours on weekdays, a trickle at weekends.
WEEKDAY_TICKETS, WEEKEND_TICKETS = 24, 6
# The last week: a card processor fails, declined cards triple.
OUTAGE_DAYS, OUTAGE_WEIGHTS = 7, {"card-declined": 39.0}
# Decisions after the last demo retrain, as a share of RETRAIN_AFTER_DECISIONS.
AFTER_LAST_RETRAIN = 0.8


@contextmanager
def clock(when: datetime) -> Iterator[None]:
    """Django's clock at `when`: what auto_now_add fields and the services read."""
    with mock.patch("django.utils.timezone.now", return_value=when):
        yield


@dataclass(frozen=True)
class DemoMonth:
    decisions: int
    retrains: list[TrainingRun]


def _arrivals(start: datetime, end: datetime, rng: random.Random) -> list[datetime]:
    times = []
    day = timezone.localtime(start).replace(hour=0, minute=0, second=0, microsecond=0)
    while day < end:
        weekend = day.weekday() >= 5
        count = (
            rng.randint(WEEKEND_TICKETS // 2, WEEKEND_TICKETS)
            if weekend
            else rng.randint(WEEKDAY_TICKETS - 6, WEEKDAY_TICKETS + 6)
        )
        for _ in range(count):
            moment = day + timedelta(hours=rng.uniform(8, 18) if not weekend else rng.uniform(10, 16))
            if start <= moment < end:
                times.append(moment)
        day += timedelta(days=1)
    return sorted(times)


def demo_month_make(
    *,
    agents: list[User],
    weeks: int = 4,
    seed: int = 77,
    retrain: Callable[[datetime, str], TrainingRun | None] | None = None,
) -> DemoMonth:
    """Ingest `weeks` of demo tickets, have `agents` decide them (the last agent is the
    newest: slower, more mistakes), and retrain twice on the way (`retrain(when,
    reason)`, by default through the real training lifecycle)."""
    rng = random.Random(seed)
    now = timezone.now()
    start, end = now - timedelta(weeks=weeks), now - timedelta(hours=1)
    arrivals = _arrivals(start, end, rng)
    outage = end - timedelta(days=OUTAGE_DAYS)
    calm = demo.generate(len(arrivals), seed=seed)
    stormy = demo.generate(len(arrivals), seed=seed + 1, weights=OUTAGE_WEIGHTS)
    categories = {c.slug: c for c in Category.objects.filter(is_active=True)}
    slugs = sorted(categories)
    retrain = retrain or _retrain
    threshold = settings.RETRAIN_AFTER_DECISIONS
    last = len(arrivals) - int(threshold * AFTER_LAST_RETRAIN) if threshold > 0 else int(len(arrivals) * 0.9)
    last = max(2, last)
    # Nightly: just before midnight of the day the retrain's ticket would arrive.
    pending = [(_night_before(arrivals[i]), "nightly retrain (demo)") for i in (last // 2, last) if i < len(arrivals)]
    runs: list[TrainingRun] = []
    stored = 0
    for i, received in enumerate(arrivals):
        while pending and pending[0][0] <= received:
            when, reason = pending.pop(0)
            run = retrain(when, reason)
            if run is not None:
                runs.append(run)
        example = (stormy if received >= outage else calm)[i]
        if example.category not in categories:
            continue
        with clock(received):
            result = services.ticket_ingest(
                subject=example.subject,
                body=example.body,
                source=DEMO_SOURCE,
                external_id=f"m{i}",
                channel=example.channel,
                customer_ref=example.customer_ref,
                received_at=received,
            )
        if not result.created:
            continue
        newest = i % len(agents) == len(agents) - 1 and len(agents) > 2
        wrong = rng.random() < (0.06 if newest else 0.02)
        truth = categories[example.category]
        chosen = categories[rng.choice(slugs)] if wrong else truth
        seconds = rng.uniform(8, 70) if newest else rng.uniform(3, 40)
        decided = min(received + timedelta(minutes=rng.uniform(2, 90)), end)
        with clock(decided):
            services.ticket_triage(
                ticket=result.ticket, agent=agents[i % len(agents)], category=chosen, seconds_taken=round(seconds, 1)
            )
        stored += 1
    return DemoMonth(decisions=stored, retrains=runs)


def _night_before(moment: datetime) -> datetime:
    return timezone.localtime(moment).replace(hour=2, minute=0, second=0, microsecond=0)


def _retrain(when: datetime, reason: str) -> TrainingRun | None:
    """A scheduled retrain at `when`, run here through the product's lifecycle: the
    gate decides whether the new version goes live."""
    with clock(when):
        run = retrain_request(trigger=TrainingRun.Trigger.SCHEDULE, reason=reason, enqueue=False)
        finished = training_run_execute(run_id=run.pk)
    serving.reset()  # the next tickets are suggested by whichever version is live now
    return finished
