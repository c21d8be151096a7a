"""Pages of the model's quality: per-category scores, confidence, errors."""

from __future__ import annotations

from typing import Any

from django.urls import reverse

from triage.models import DecisionFact
from triage.reports.filters import ReportFilter
from triage.reports.pages.common import (
    category_cell,
    category_names,
    cell_link,
    line,
    pct,
    r4,
    share,
    ticket_link,
)
from triage.reports.selectors import confidence, errors, quality
from triage.reports.tables import CategoryCell, Chart, Report, Table


def build_quality(f: ReportFilter) -> Report:
    report = Report(
        "quality",
        "Per-category quality",
        "For which categories are suggestions right? Agents' choices are the truth here.",
    )
    cells = quality.report_confusion(f)
    names = category_names()
    # Weakest first, in the table and in the chart beside it.
    per = quality.weakest_first(quality.report_category_quality(cells, only=f.category))
    summary = quality.accuracy_summary(cells)
    report.extra["summary"] = {
        "decided": summary["decided"],
        "accuracy": share(summary["agreed"], summary["decided"]),
        "blind": summary["blind_decided"],
        "blind_accuracy": share(summary["blind_agreed"], summary["blind_decided"]),
    }
    report.tables.append(
        Table(
            "categories",
            "Precision, recall, F1 and support",
            ["Category", "Suggested", "Support (chosen)", "Correct", "Precision", "Recall", "F1"],
            [
                [
                    CategoryCell(q.slug, q.name),
                    q.suggested,
                    q.support,
                    q.correct,
                    pct(q.precision),
                    pct(q.recall),
                    pct(q.f1),
                ]
                for q in per
            ],
            note="Sorted weakest first. Precision: of the model's suggestions of the category, the share agents kept. "
            "Recall: of the tickets agents put in the category, the share the model suggested.",
        )
    )
    report.charts.append(
        Chart(
            "chart-quality",
            "Precision, recall and F1 per category",
            "categories",
            {
                "type": "bar",
                "data": {
                    "labels": [q.name for q in per],
                    "datasets": [
                        line("Precision", [r4(q.precision) for q in per]),
                        line("Recall", [r4(q.recall) for q in per]),
                        line("F1", [r4(q.f1) for q in per]),
                    ],
                },
                "options": {"indexAxis": "y", "scales": {"x": {"min": 0, "max": 1}}},
            },
        )
    )
    report.tables.append(
        Table(
            "confusion",
            "Confusion: suggested against chosen",
            ["Suggested", "Chosen", "Tickets"],
            [
                [
                    category_cell(c.suggested, names),
                    category_cell(c.chosen, names),
                    cell_link(f, c.suggested, c.chosen, c.count),
                ]
                for c in cells
            ],
            note="Click a count, or a cell of the heatmap, to list its tickets.",
        )
    )
    labels = sorted({c.suggested for c in cells} | {c.chosen for c in cells})
    report.charts.append(
        Chart(
            "chart-confusion",
            "Confusion heatmap (x: suggested, y: chosen)",
            "confusion",
            {
                "type": "matrix",
                "data": {
                    "datasets": [
                        {
                            "label": "Tickets",
                            "data": [{"x": c.suggested, "y": c.chosen, "v": c.count} for c in cells],
                        }
                    ]
                },
                "options": {
                    "scales": {
                        "x": {"type": "category", "labels": labels, "offset": True, "title": {"text": "suggested"}},
                        "y": {"type": "category", "labels": labels, "offset": True, "title": {"text": "chosen"}},
                    }
                },
                "cellUrl": f"{reverse('reports-confusion-cell')}?{f.querystring()}",
                "names": {slug: names.get(slug, slug) for slug in labels},
            },
        )
    )
    return report


def build_confidence(f: ReportFilter) -> Report:
    report = Report(
        "confidence",
        "Confidence you can trust",
        "Does a 90 % suggestion get accepted 90 % of the time? How much could be auto-triaged?",
    )
    bucket_rows = confidence.confidence_rows(f)
    bins = confidence.report_reliability(f, bucket_rows)
    report.tables.append(
        Table(
            "reliability",
            "Reliability: predicted confidence against observed acceptance",
            ["Confidence from", "to", "Decisions", "Accepted", "Mean confidence", "Observed acceptance"],
            [[b.low, b.high, b.count, b.accepted, pct(b.mean_confidence), pct(b.observed)] for b in bins],
        )
    )
    points = [{"x": r4(b.mean_confidence), "y": r4(b.observed)} for b in bins if b.count]
    report.charts.append(
        Chart(
            "chart-reliability",
            "Reliability diagram (the diagonal is perfect calibration)",
            "reliability",
            {
                "type": "scatter",
                "data": {
                    "datasets": [
                        line("Observed acceptance", points, showLine=True),
                        line("Perfect calibration", [{"x": 0, "y": 0}, {"x": 1, "y": 1}], showLine=True, role="ref"),
                    ]
                },
                "options": {"scales": {"x": {"min": 0, "max": 1}, "y": {"min": 0, "max": 1}}},
            },
        )
    )
    overall, per = confidence.report_coverage(f, bucket_rows)
    rows = []
    names = category_names()
    for cov in [overall, *per]:
        row: list[Any] = [CategoryCell("all", "All categories") if cov is overall else category_cell(cov.slug, names)]
        row.append(cov.total)
        for target in confidence.PRECISION_TARGETS:
            point = cov.at(target)
            row += [pct(point.coverage if point else 0.0), point.threshold if point else None]
        rows.append(row)
    columns = ["Category", "Tickets"]
    for target in confidence.PRECISION_TARGETS:
        columns += [f"Coverage at {target:.0%}", f"Threshold at {target:.0%}"]
    report.tables.append(
        Table(
            "coverage",
            "Share that could be auto-triaged at 90, 95 and 99 % precision",
            columns,
            rows,
            note="Threshold: answer automatically when confidence is at least this. 'all' uses one threshold for "
            "every category; the others one per suggested category.",
        )
    )
    report.tables.append(
        Table(
            "held-back",
            "Held back for a human, and whether the model's guess was right",
            ["Shown as", "Decisions", "Share of model suggestions", "Model's guess was the agent's choice"],
            [[h.label, h.decisions, pct(h.share), pct(h.right_share)] for h in confidence.report_held_back(f)],
            note="A ticket needs a human when the model's confidence is below the threshold picked at training "
            "for the target precision, or when it has more unseen words than the held-out tickets had. Held-back "
            "guesses that are right about as often as answered ones mean the target precision "
            "(admins set it on the taxonomy page) is stricter than the team needs. Blind-slice tickets and "
            "routing rules are left out.",
        )
    )
    report.tables.append(
        Table(
            "coverage-curve",
            "Coverage against precision (all categories)",
            ["Threshold", "Answered", "Coverage", "Precision"],
            [[p.threshold, p.answered, pct(p.coverage), pct(p.precision)] for p in overall.curve],
        )
    )
    report.charts.append(
        Chart(
            "chart-coverage",
            "Coverage against precision (all categories)",
            "coverage-curve",
            {
                "type": "scatter",
                "data": {
                    "datasets": [
                        line(
                            "Coverage → precision",
                            [{"x": r4(p.coverage), "y": r4(p.precision)} for p in overall.curve],
                            showLine=True,
                        )
                    ]
                },
                "options": {"scales": {"x": {"min": 0, "max": 1}, "y": {"max": 1}}},
            },
        )
    )
    return report


def _fact_rows(facts: list[DecisionFact]) -> list[list[Any]]:
    return [
        [
            ticket_link(x.ticket_id),
            x.ticket.subject or x.ticket.body[:80],
            CategoryCell(x.suggested.slug, x.suggested.name) if x.suggested else "",
            CategoryCell(x.chosen.slug, x.chosen.name),
            pct(x.confidence),
            x.day,
        ]
        for x in facts
    ]


def build_errors(f: ReportFilter) -> Report:
    report = Report("errors", "Error analysis", "Where does the model go wrong, and how sure was it?")
    columns = ["Ticket", "Subject", "Suggested", "Chosen", "Confidence", "Day"]
    report.tables.append(
        Table(
            "confident-wrong",
            "Most confident and wrong",
            columns,
            _fact_rows(list(errors.errors_confident_wrong(f))),
        )
    )
    report.tables.append(Table("least-sure", "Least sure", columns, _fact_rows(list(errors.errors_least_sure(f)))))
    pairs = errors.errors_confused_pairs(quality.report_confusion(f))
    names = category_names()
    report.tables.append(
        Table(
            "confused-pairs",
            "Categories most often confused with each other (both directions)",
            ["Category A", "Category B", "Tickets", "A suggested, B chosen", "B suggested, A chosen"],
            [
                [
                    category_cell(a, names),
                    category_cell(b, names),
                    n,
                    cell_link(f, a, b, "list"),
                    cell_link(f, b, a, "list"),
                ]
                for a, b, n in pairs
            ],
        )
    )
    report.charts.append(
        Chart(
            "chart-confused",
            "Most confused pairs",
            "confused-pairs",
            {
                "type": "bar",
                "data": {
                    "labels": [f"{names.get(a, a)} ↔ {names.get(b, b)}" for a, b, _ in pairs],
                    "datasets": [line("Tickets", [n for *_, n in pairs])],
                },
                "options": {
                    "indexAxis": "y",
                    # One bar per pair, each named; counts are whole tickets.
                    "scales": {
                        "x": {"beginAtZero": True, "ticks": {"precision": 0}, "title": {"text": "tickets"}},
                        "y": {"ticks": {"autoSkip": False}},
                    },
                },
            },
        )
    )
    return report
