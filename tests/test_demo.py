"""The demo looks like a real support month: subjects agree with their messages, the
history and decisions span several weeks with model promotions, and the first start
does not retrain by itself because the seeded decisions crossed the threshold."""

from __future__ import annotations

import re
from io import StringIO
from typing import Any

from django.contrib.auth.models import User
from django.core.management import call_command

from triage import demo

# A subject that says one thing above a message that says another.
CONTRADICTIONS = [
    (r"stolen|snatched", r"\b(lost|can't find|dropped|left my card|still have (my|the) card)\b"),
    (r"can't find|lost", r"\b(stolen|snatched|took my bag|still have (my|the) card)\b"),
    (r"hasn't arrived|not received|still waiting|where is", r"\barrived but\b"),
    (r"declined|refused|rejected|not working", r"\b(hasn't arrived|not been delivered|no card)\b"),
    (r"^(close|cancel|account closure)", r"\b(open a|apply)\b"),
]


def test_demo_subjects_never_contradict_their_messages() -> None:
    tickets = [t for t in demo.generate(4000, seed=5) if t.subject]
    assert len(tickets) > 2500
    for ticket in tickets:
        for subject_says, body_denies in CONTRADICTIONS:
            if re.search(subject_says, ticket.subject, re.IGNORECASE):
                assert not re.search(body_denies, ticket.body, re.IGNORECASE), (ticket.subject, ticket.body)
    pairs = {(t.subject, t.body) for t in tickets}
    assert ("Can't find my debit card", "I still have my card") not in {(s, b[:19]) for s, b in pairs}


def test_the_first_start_seeds_a_month_with_promotions_and_does_not_retrain_by_itself(
    db: Any, tmp_path: Any, monkeypatch: Any
) -> None:
    from triage.learning.triggers import retrain_if_due
    from triage.management.commands import prepare, seed_demo
    from triage.models import DecisionFact, ModelPromotion, ModelVersion, Prediction, TrainingRun

    monkeypatch.setattr(seed_demo, "LOGINS_FILE", tmp_path / "logins.txt")
    monkeypatch.setattr(prepare, "LOGINS_FILE", tmp_path / "logins.txt")
    out = StringIO()
    call_command("prepare", stdout=out)

    weeks = {day.isocalendar()[:2] for day in DecisionFact.objects.values_list("day", flat=True)}
    assert len(weeks) >= 4, out.getvalue()
    assert len({p.isocalendar()[:2] for p in Prediction.objects.values_list("created_at", flat=True)}) >= 4
    assert ModelVersion.objects.count() == 3
    promotions = list(ModelPromotion.objects.order_by("created_at"))
    assert len(promotions) >= 2, out.getvalue()  # the first model, then at least one retrain the gate let through
    assert (promotions[-1].created_at - promotions[0].created_at).days >= 10
    assert User.objects.filter(groups__name="agent").count() == 3
    # The seeded decisions are behind the last training: nothing is due.
    last = TrainingRun.objects.order_by("-created_at").first()
    assert last is not None and last.status == "succeeded"
    assert retrain_if_due() is None
    assert not TrainingRun.objects.filter(status__in=["queued", "running"]).exists()
