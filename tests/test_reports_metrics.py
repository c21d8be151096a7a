"""Report figures on known decisions equal the hand-computed ones (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest
from django.http import QueryDict

from tests.reports_data import DAY2, RANGE, at, seed
from triage import services
from triage.models import DecisionFact, Prediction, Ticket
from triage.reports.filters import ReportFilter, parse_filter
from triage.reports.selectors import acceptance, agents, confidence, errors, quality

pytestmark = pytest.mark.django_db


def window(**extra: str) -> ReportFilter:
    params = QueryDict(mutable=True)
    params.update({**RANGE, **extra})
    return parse_filter(params)


@pytest.fixture
def seeded(agent: Any, second_agent: Any) -> Any:
    return seed(agent, second_agent)


def test_one_fact_per_ticket_from_its_first_decision(seeded: Any) -> None:
    assert DecisionFact.objects.count() == 10  # bob's later change adds no fact
    first = DecisionFact.objects.get(ticket=seeded.tickets[0])
    assert first.agent == seeded.alice and first.overridden
    assert first.day == date(2026, 11, 2) and first.week == date(2026, 11, 2)
    assert first.confidence_bucket == 95 and first.language == "en"
    assert DecisionFact.objects.filter(overridden=True).count() == 1


def test_acceptance_per_day_and_week_equals_the_hand_count(seeded: Any) -> None:
    daily = acceptance.report_acceptance(window(), period="day")
    assert [(r.period, r.version, r.shown, r.accepted) for r in daily] == [
        (date(2026, 11, 2), 1, 5, 4),
        (date(2026, 11, 10), 1, 5, 3),
    ]
    weekly = acceptance.report_acceptance(window(), period="week")
    assert [(r.period, r.shown, r.accepted) for r in weekly] == [(date(2026, 11, 2), 5, 4), (date(2026, 11, 9), 5, 3)]
    assert daily[0].rate == 0.8 and daily[1].rate == 0.6


def test_the_blind_slice_is_left_out_of_acceptance(seeded: Any) -> None:
    DecisionFact.objects.filter(ticket=seeded.tickets[9]).update(blind=True)  # row 10, accepted
    weekly = acceptance.report_acceptance(window(), period="week")
    assert [(r.shown, r.accepted) for r in weekly] == [(5, 4), (4, 2)]


def test_confusion_counts_and_per_category_scores_equal_the_hand_computed_ones(seeded: Any) -> None:
    cells = quality.report_confusion(window())
    assert {(c.suggested, c.chosen): c.count for c in cells} == {
        ("alpha", "alpha"): 3,
        ("alpha", "beta"): 1,
        ("beta", "beta"): 3,
        ("beta", "alpha"): 1,
        ("gamma", "gamma"): 1,
        ("gamma", "beta"): 1,
    }
    scores = {q.slug: q for q in quality.report_category_quality(cells)}
    assert (scores["alpha"].precision, scores["alpha"].recall, scores["alpha"].f1) == (0.75, 0.75, 0.75)
    assert (scores["beta"].precision, scores["beta"].recall) == (0.75, 0.6)
    assert scores["beta"].f1 == pytest.approx(2 * 0.75 * 0.6 / 1.35)
    assert (scores["gamma"].precision, scores["gamma"].recall) == (0.5, 1.0)
    assert scores["gamma"].f1 == pytest.approx(2 / 3)
    assert [scores[s].support for s in ("alpha", "beta", "gamma")] == [4, 5, 1]


def test_filters_narrow_every_report(seeded: Any) -> None:
    # A category keeps the tickets suggested or chosen as it: alpha's 4 suggested plus 1 chosen.
    assert sum(c.count for c in quality.report_confusion(window(category="alpha"))) == 5
    assert sum(c.count for c in quality.report_confusion(window(**{"from": "2026-11-09"}))) == 5
    assert quality.report_confusion(window(language="es")) == []
    assert sum(r.shown for r in acceptance.report_acceptance(window(version="1"))) == 10


def test_coverage_at_a_precision_equals_the_hand_computed_threshold(seeded: Any) -> None:
    overall, per = confidence.report_coverage(window())
    at90 = overall.at(0.90)
    assert (at90.threshold, at90.coverage, at90.precision) == (0.90, 0.5, 1.0)
    assert overall.at(0.85).coverage == 0.8  # threshold 0.70: 7 of 8 kept
    by_slug = {c.slug: c for c in per}
    assert (by_slug["alpha"].at(0.9).coverage, by_slug["alpha"].at(0.9).threshold) == (0.75, 0.90)
    assert (by_slug["beta"].at(0.95).coverage, by_slug["beta"].at(0.95).threshold) == (0.75, 0.70)
    assert (by_slug["gamma"].at(0.99).coverage, by_slug["gamma"].at(0.99).threshold) == (0.5, 0.99)


def test_reliability_bins_hold_confidence_against_observed_acceptance(seeded: Any) -> None:
    bins = {round(b.low, 1): b for b in confidence.report_reliability(window())}
    assert (bins[0.9].count, bins[0.9].accepted) == (5, 5)
    assert bins[0.9].mean_confidence == pytest.approx((0.95 + 0.90 + 0.99 + 0.97 + 0.92) / 5)
    assert (bins[0.8].count, bins[0.8].accepted, bins[0.8].observed) == (2, 1, 0.5)
    assert (bins[0.4].count, bins[0.4].accepted) == (1, 0)


def test_held_back_suggestions_count_by_reason_with_how_often_the_guess_was_right(seeded: Any) -> None:
    cats = seeded.categories
    # (reason, suggested, chosen) on day 2, after the seeded rows: all held back ("needs a human").
    held = [
        ("unsure", "alpha", "alpha"),
        ("unsure", "alpha", "beta"),
        ("unsure", "beta", "gamma"),
        ("unfamiliar", "gamma", "alpha"),
        ("unfamiliar", "beta", "beta"),
        ("novel", "gamma", "gamma"),
        ("", "alpha", "beta"),  # stored before reasons were recorded
    ]
    for i, (reason, suggested, chosen) in enumerate(held):
        when = DAY2 + timedelta(hours=3, minutes=i)
        with at(when - timedelta(minutes=1)):
            ticket = Ticket.objects.create(subject="held", body=f"held back {i}", received_at=when, language="en")
            Prediction.objects.create(
                ticket=ticket,
                model_version=seeded.version,
                suggested=cats[suggested],
                confidence=0.3,
                needs_human=True,
                abstain_reason=reason,
            )
        with at(when):
            services.ticket_triage(ticket=ticket, agent=seeded.alice, category=cats[chosen])

    def table(f: ReportFilter) -> list[tuple[str, int, int, float]]:
        return [(r.label, r.decisions, r.right, round(r.share, 4)) for r in confidence.report_held_back(f)]

    # The 10 seeded suggestions were answered; 7 of them were accepted.
    assert table(window()) == [
        ("Answered (suggestion pre-selected)", 10, 7, round(10 / 17, 4)),
        ("Needs a human: not sure enough", 3, 1, round(3 / 17, 4)),
        ("Needs a human: unlike what it learned from", 2, 1, round(2 / 17, 4)),
        ("Needs a human: unlike every ticket it learned from", 1, 1, round(1 / 17, 4)),
        ("Needs a human: reason not recorded", 1, 0, round(1 / 17, 4)),
    ]
    # The category filter keeps tickets suggested or chosen as gamma: seeded rows 7 and 8, held 3, 4 and 6.
    assert table(window(category="gamma")) == [
        ("Answered (suggestion pre-selected)", 2, 1, 0.4),
        ("Needs a human: not sure enough", 1, 0, 0.2),
        ("Needs a human: unlike what it learned from", 1, 0, 0.2),
        ("Needs a human: unlike every ticket it learned from", 1, 1, 0.2),
        ("Needs a human: reason not recorded", 0, 0, 0.0),
    ]


def test_the_migration_marks_the_facts_of_held_back_suggestions(seeded: Any) -> None:
    import importlib

    from django.apps import apps

    held = seeded.tickets[2]
    Prediction.objects.filter(ticket=held).update(needs_human=True)
    DecisionFact.objects.update(needs_human=False)
    importlib.import_module("triage.migrations.0012_abstain_reason").backfill_held_back(apps, None)
    assert list(DecisionFact.objects.filter(needs_human=True).values_list("ticket_id", flat=True)) == [held.pk]


def test_error_lists_rank_by_confidence(seeded: Any) -> None:
    wrong = [x.ticket_id for x in errors.errors_confident_wrong(window())]
    assert wrong == [seeded.tickets[2].pk, seeded.tickets[5].pk, seeded.tickets[7].pk]  # 0.85, 0.60, 0.40
    assert [x.confidence for x in errors.errors_least_sure(window(), limit=2)] == [0.40, 0.60]
    pairs = errors.errors_confused_pairs(quality.report_confusion(window()))
    assert pairs == [("alpha", "beta", 2), ("beta", "gamma", 1)]


def test_agents_pace_median_acceptance_and_overrides(seeded: Any) -> None:
    rows = {r.username: r for r in agents.report_agents(window())}
    alice, bob = rows["alice"], rows["bob"]
    assert (alice.decisions, alice.active_hours, alice.per_hour) == (5, 2, 2.5)
    assert (alice.median_seconds, bob.median_seconds) == (50.0, 60.0)
    assert (alice.accepted_share, bob.accepted_share) == (0.8, 0.6)
    assert (alice.overridden_share, bob.overridden_share) == (0.2, 0.0)


def test_active_hours_are_exact_under_a_narrower_filter(seeded: Any) -> None:
    # Alice's alpha tickets: rows 1 (day 1) and 9 (day 2): two hours, one decision in each.
    rows = {r.username: r for r in agents.report_agents(window(category="alpha"))}
    assert (rows["alice"].decisions, rows["alice"].active_hours) == (3, 2)  # rows 1, 3 (suggested alpha), 9


def test_the_migration_backfills_the_facts_of_earlier_decisions(seeded: Any) -> None:
    import importlib

    from django.apps import apps

    fields = ["ticket_id", "agent_id", "suggested_id", "chosen_id", "accepted", "confidence_bucket", "overridden"]
    fields += ["opens_hour", "day", "week", "language", "seconds_taken"]
    written = sorted(DecisionFact.objects.values_list(*fields))
    DecisionFact.objects.all().delete()
    importlib.import_module("triage.migrations.0009_reports").backfill_facts(apps, None)
    assert sorted(DecisionFact.objects.values_list(*fields)) == written
