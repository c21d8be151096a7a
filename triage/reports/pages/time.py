"""Pages over time: acceptance, drift, and the overview that answers "retrain?"."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings

from triage.models import TrainingRun
from triage.reports.filters import ReportFilter
from triage.reports.pages.common import category_cell, category_names, line, pct, r4, rate, share
from triage.reports.selectors import acceptance, drift, quality
from triage.reports.tables import CategoryCell, Chart, Rate, Report, Table


def build_acceptance(f: ReportFilter) -> Report:
    report = Report(
        "acceptance", "Acceptance over time", "What share of shown suggestions did agents accept unchanged?"
    )
    marks = acceptance.promotions_in_range(f)
    daily = acceptance.report_acceptance(f, period="day")
    for period, title in (("day", "Per day"), ("week", "Per week")):
        rows = daily if period == "day" else acceptance.acceptance_by_week(daily)
        report.tables.append(
            Table(
                name=f"per-{period}",
                title=f"{title}, by model version",
                columns=[period.capitalize(), "Model version", "Shown", "Accepted", "Acceptance"],
                rows=[[r.period, f"v{r.version}" if r.version else "", r.shown, r.accepted, pct(r.rate)] for r in rows],
            )
        )
        labels = sorted({r.period.isoformat() for r in rows} | {getattr(m, period).isoformat() for m in marks})
        index = {label: i for i, label in enumerate(labels)}
        volume = [0] * len(labels)
        series: dict[int | None, list[float | None]] = {}
        for r in rows:
            i = index[r.period.isoformat()]
            volume[i] += r.shown
            series.setdefault(r.version, [None] * len(labels))[i] = r4(r.rate)
        datasets = [
            line(f"Acceptance v{v}" if v else "Acceptance", data, type="line", yAxisID="rate", spanGaps=True)
            for v, data in series.items()
        ]
        datasets.append(line("Volume (shown)", volume, type="bar", yAxisID="volume", role="volume"))
        datasets.append(
            line(
                "Promotion / rollback",
                [{"x": getattr(m, period).isoformat(), "y": 1.0, "label": m.label} for m in marks],
                type="scatter",
                yAxisID="rate",
                role="promotion",
            )
        )
        report.charts.append(
            Chart(
                id=f"chart-acceptance-{period}",
                title=f"Acceptance {title.lower()} (bars: volume; triangles: promotions)",
                table=f"per-{period}",
                config={
                    "type": "bar",
                    "data": {"labels": labels, "datasets": datasets},
                    "options": {
                        "scales": {
                            "rate": {"type": "linear", "position": "left", "min": 0, "max": 1.05},
                            "volume": {
                                "type": "linear",
                                "position": "right",
                                "grid": {"drawOnChartArea": False},
                                "ticks": {"precision": 0},  # whole tickets
                            },
                        }
                    },
                },
            )
        )
    report.tables.append(
        Table(
            "promotions",
            "Promotions and rollbacks in range",
            ["Day", "Change"],
            [[m.day, m.label] for m in marks],
        )
    )
    return report


def build_drift(f: ReportFilter) -> Report:
    result = drift.report_drift(f)
    version = f"v{result.version.version}" if result.version else "no live model"
    report = Report(
        "drift",
        "Drift",
        f"Is the traffic changing under the model? Each week against the training data of {version}.",
    )
    report.warnings = result.warnings
    ref = result.reference
    report.extra["reference"] = ref
    if result.version is not None and ref is None:
        report.warnings.append(
            f"{version} has no training reference yet: the reports housekeeping builds it within a minute."
        )
    limit = settings.REPORTS_PSI_WARNING
    report.tables.append(
        Table(
            "weekly",
            "Weekly drift measures",
            ["Week", "Tickets", "Category mix PSI", "Confidence PSI", "Unseen-word share"],
            [[w.week, w.tickets, r4(w.mix_psi), r4(w.confidence_psi), pct(w.unseen_share)] for w in result.weeks]
            + ([["training", ref.sample_rows, 0.0, 0.0, pct(ref.unseen_share)]] if ref else []),
            note=f"Warning above PSI {limit} (mix or confidence) or an unseen-word share "
            f"{settings.REPORTS_UNSEEN_WARNING:.0%} above the training reference's own.",
        )
    )
    weeks = [w.week.isoformat() for w in result.weeks]
    report.charts.append(
        Chart(
            "chart-drift-psi",
            "PSI per week (dashed: warning threshold)",
            "weekly",
            {
                "type": "line",
                "data": {
                    "labels": weeks,
                    "datasets": [
                        line("Category mix PSI", [r4(w.mix_psi) for w in result.weeks]),
                        line("Confidence PSI", [r4(w.confidence_psi) for w in result.weeks]),
                        line("Unseen-word share", [r4(w.unseen_share) for w in result.weeks]),
                        line("Warning threshold", [limit] * len(weeks), role="ref"),
                    ],
                },
                "options": {"scales": {"y": {"min": 0}}},
            },
        )
    )
    slugs = sorted({s for w in result.weeks for s in w.mix} | set(ref.class_mix if ref else {}))
    names = category_names()
    mix = [
        [r4((ref.class_mix if ref else {}).get(s, 0.0))] + [r4(w.mix.get(s, 0.0)) for w in result.weeks] for s in slugs
    ]
    mix_rows = [[category_cell(s, names), *(pct(v) for v in shares)] for s, shares in zip(slugs, mix, strict=True)]
    report.tables.append(Table("mix", "Mix of suggested categories", ["Category", "Training", *weeks], mix_rows))
    report.charts.append(
        Chart(
            "chart-drift-mix",
            "Mix of suggested categories: training, then each week",
            "mix",
            {
                "type": "bar",
                "data": {
                    "labels": ["training", *weeks],
                    "datasets": [line(names.get(s, s), shares) for s, shares in zip(slugs, mix, strict=True)],
                },
                "options": {"scales": {"x": {"stacked": True}, "y": {"stacked": True, "max": 1}}},
            },
        )
    )
    bins = [f"{i / 10:.1f}-{(i + 1) / 10:.1f}" for i in range(drift.HISTOGRAM_BINS)]
    hist = [("training", [r4(s) for s in (ref.confidence_histogram if ref else [])])] + [
        (w.week.isoformat(), [r4(s) for s in w.histogram]) for w in result.weeks
    ]
    hist_rows = [[label, *(pct(v) for v in shares)] for label, shares in hist]
    report.tables.append(Table("confidence", "Confidence distribution (share per bin)", ["Week", *bins], hist_rows))
    report.charts.append(
        Chart(
            "chart-drift-confidence",
            "Confidence distribution: training against the latest week",
            "confidence",
            {
                "type": "bar",
                "data": {
                    "labels": bins,
                    "datasets": [
                        line(label, shares) for label, shares in (hist[:1] + hist[-1:] if len(hist) > 1 else hist)
                    ],
                },
            },
        )
    )
    return report


def build_overview(f: ReportFilter) -> Report:
    """The one-minute answer: how accurate last week, for which categories, retrain?

    "Last week" is the range's last seven days, or the whole range when it is shorter:
    never days before the range the supervisor chose.
    """
    last_week = ReportFilter(
        start=max(f.start, f.end - timedelta(days=6)),
        end=f.end,
        category=f.category,
        version=f.version,
        language=f.language,
    )
    days = (last_week.end - last_week.start).days + 1
    report = Report("overview", "Reports", "How accurate were suggestions last week, where, and should we retrain?")
    totals = acceptance.acceptance_totals(last_week)
    cells = quality.report_confusion(last_week)
    summary = quality.accuracy_summary(cells)
    per = quality.report_category_quality(cells, only=f.category)
    drift_report = drift.report_drift(f)
    floor = settings.REPORTS_ACCEPTANCE_FLOOR
    accepted = rate(totals["accepted"], totals["shown"])
    last_drift_run = TrainingRun.objects.filter(trigger=TrainingRun.Trigger.DRIFT).order_by("-created_at").first()
    # As the floor's own trigger (acceptance_floor_check): a rate over a handful of
    # suggestions (one Spanish ticket, a small category) advises nothing.
    enough = totals["shown"] >= settings.REPORTS_ACCEPTANCE_MIN_DECISIONS
    below_floor = enough and accepted is not None and accepted < floor
    retrain = below_floor or bool(drift_report.warnings)
    report.tables.append(
        Table(
            "summary",
            f"Last {days} day{'s' if days != 1 else ''} ({last_week.start} to {last_week.end})",
            ["Measure", "Value"],
            [
                ["Suggestions shown", totals["shown"]],
                ["Accepted unchanged", Rate(accepted)],
                ["Blind-slice accuracy (unbiased)", share(summary["blind_agreed"], summary["blind_decided"])],
                ["Blind-slice tickets", summary["blind_decided"]],
                ["Acceptance floor (retrain below)", Rate(floor)],
                ["Suggestions the floor needs", settings.REPORTS_ACCEPTANCE_MIN_DECISIONS],
                ["Drift warnings in range", len(drift_report.warnings)],
                [
                    "Last retrain requested by the floor",
                    last_drift_run.created_at if last_drift_run else "",
                ],
                ["Retrain advised", "yes" if retrain else "no"],
            ],
        )
    )
    weakest = quality.weakest_first(per)[:8]
    report.tables.append(
        Table(
            "weakest",
            "Weakest categories last week (by F1)",
            ["Category", "Support", "Precision", "Recall", "F1"],
            [[CategoryCell(q.slug, q.name), q.support, pct(q.precision), pct(q.recall), pct(q.f1)] for q in weakest],
        )
    )
    report.charts.append(
        Chart(
            "chart-weakest",
            "F1 of the weakest categories",
            "weakest",
            {
                "type": "bar",
                "data": {"labels": [q.name for q in weakest], "datasets": [line("F1", [r4(q.f1) for q in weakest])]},
                "options": {"indexAxis": "y", "scales": {"x": {"min": 0, "max": 1}}},
            },
        )
    )
    report.warnings = drift_report.warnings[-3:]
    if below_floor:
        report.warnings.insert(0, f"Acceptance last week {accepted:.0%} is below the floor of {floor:.0%}.")
    elif accepted is not None and accepted < floor:
        report.extra["too_few"] = (
            f"Acceptance {accepted:.0%} is below the floor of {floor:.0%}, but over only {totals['shown']} "
            f"suggestions: the floor judges from {settings.REPORTS_ACCEPTANCE_MIN_DECISIONS}."
        )
    report.extra["retrain"] = retrain
    return report
