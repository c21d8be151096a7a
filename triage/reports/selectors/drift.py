"""Report 5: drift. Each week against the training reference of the live model (or of
the version filtered on): the mix of suggested categories, the confidence
histogram, and the share of words the model never saw."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from datetime import date

from django.conf import settings
from django.db.models import Count, Sum

from triage.models import ModelReference, ModelVersion
from triage.reports.filters import ReportFilter
from triage.reports.models import CONFIDENCE_BUCKETS
from triage.reports.selectors.common import category_slugs

HISTOGRAM_BINS = 10
# Shares are floored at this before PSI: an empty bin must not make it infinite.
PSI_EPSILON = 1e-4


def psi(expected: dict[str, float], actual: dict[str, float]) -> float:
    """Population stability index: sum of (a - e) * ln(a / e) over the bins of both."""
    total = 0.0
    for key in set(expected) | set(actual):
        e = max(expected.get(key, 0.0), PSI_EPSILON)
        a = max(actual.get(key, 0.0), PSI_EPSILON)
        total += (a - e) * math.log(a / e)
    return total


@dataclass
class DriftWeek:
    week: date
    tickets: int
    mix: dict[str, float] = field(default_factory=dict)
    histogram: list[float] = field(default_factory=list)
    unseen_share: float | None = None
    mix_psi: float | None = None
    confidence_psi: float | None = None


@dataclass
class DriftReport:
    version: ModelVersion | None
    reference: ModelReference | None
    weeks: list[DriftWeek]
    warnings: list[str]


def _reference_for(f: ReportFilter) -> tuple[ModelVersion | None, ModelReference | None]:
    version = f.version or ModelVersion.objects.filter(status=ModelVersion.Status.ACTIVE).first()
    if version is None:
        return None, None
    return version, ModelReference.objects.filter(model_version=version).defer("vocabulary").first()


def report_drift(f: ReportFilter) -> DriftReport:
    """Two GROUP BY week queries; the weeks are compared with the reference in Python.

    Drift is about all the traffic: a category filter would make the mix look drifted.
    """
    f = dataclasses.replace(f, category=None)
    version, reference = _reference_for(f)
    facts = f.facts().filter(suggested__isnull=False)
    if version is not None:
        facts = facts.filter(model_version=version)
    slugs = category_slugs()
    weeks: dict[date, DriftWeek] = {}
    unseen: dict[date, list[float]] = {}
    by_category = (
        facts.values("week", "suggested_id")
        .annotate(n=Count("id"), unseen_sum=Sum("unseen_share"), unseen_n=Count("unseen_share"))
        .order_by()
    )
    for r in by_category:
        week = weeks.setdefault(r["week"], DriftWeek(week=r["week"], tickets=0))
        week.tickets += r["n"]
        week.mix[slugs[r["suggested_id"]]] = r["n"]
        sums = unseen.setdefault(r["week"], [0.0, 0])
        sums[0] += r["unseen_sum"] or 0.0
        sums[1] += r["unseen_n"]
    weeks = dict(sorted(weeks.items()))
    for key, week in weeks.items():
        week.mix = {slug: n / week.tickets for slug, n in sorted(week.mix.items())}
        total, n = unseen[key]
        week.unseen_share = total / n if n else None
        week.histogram = [0.0] * HISTOGRAM_BINS
    width = CONFIDENCE_BUCKETS // HISTOGRAM_BINS
    by_bucket = facts.filter(confidence_bucket__isnull=False).values("week", "confidence_bucket")
    for r in by_bucket.annotate(n=Count("id")).order_by():
        week = weeks[r["week"]]
        week.histogram[min(HISTOGRAM_BINS - 1, r["confidence_bucket"] // width)] += r["n"] / week.tickets
    warnings: list[str] = []
    limit = settings.REPORTS_PSI_WARNING
    for week in weeks.values():
        if reference is None:
            continue
        if reference.class_mix:
            week.mix_psi = psi(reference.class_mix, week.mix)
            if week.mix_psi > limit:
                warnings.append(
                    f"Week of {week.week}: the mix of suggested categories moved (PSI {week.mix_psi:.2f} > {limit})."
                )
        if reference.confidence_histogram:
            expected = {str(i): s for i, s in enumerate(reference.confidence_histogram)}
            week.confidence_psi = psi(expected, {str(i): s for i, s in enumerate(week.histogram)})
            if week.confidence_psi > limit:
                warnings.append(
                    f"Week of {week.week}: the confidence distribution moved (PSI {week.confidence_psi:.2f} > {limit})."
                )
        rise = settings.REPORTS_UNSEEN_WARNING
        if week.unseen_share is not None and week.unseen_share > reference.unseen_share + rise:
            warnings.append(
                f"Week of {week.week}: {week.unseen_share:.0%} of words are new to the model "
                f"(training: {reference.unseen_share:.0%}; warning above +{rise:.0%})."
            )
    return DriftReport(version=version, reference=reference, weeks=list(weeks.values()), warnings=warnings)
