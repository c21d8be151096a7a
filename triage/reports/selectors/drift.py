"""Report 5: drift. Each week against the training reference of the live model (or of
the version filtered on): the mix of suggested categories, the confidence
histogram, and the share of words the model never saw."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any

from django.conf import settings
from django.db.models import Avg, Count, DateField, F, FloatField, Value
from django.db.models.functions import Floor, Least, TruncWeek
from django.utils import timezone

from triage.models import ModelReference, ModelVersion, Prediction
from triage.reports.filters import ReportFilter
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
    version = f.version or ModelVersion.objects.live()
    if version is None:
        return None, None
    return version, ModelReference.objects.filter(model_version=version).defer("vocabulary").first()


def incoming(f: ReportFilter, version: ModelVersion | None) -> Any:
    """The live model suggestions of every incoming ticket in range: decided, waiting or
    auto-triaged alike (routing rules' suggestions are not the model's, so they are left out)."""
    zone = timezone.get_current_timezone()
    start = datetime.combine(f.start, time.min, tzinfo=zone)
    end = datetime.combine(f.end + timedelta(days=1), time.min, tzinfo=zone)
    predictions = Prediction.objects.filter(
        is_live=True, model_version__isnull=False, created_at__gte=start, created_at__lt=end
    )
    if version is not None:
        predictions = predictions.filter(model_version=version)
    if f.language:
        predictions = predictions.filter(ticket__language=f.language)
    return predictions.annotate(week=TruncWeek("created_at", output_field=DateField()))


def report_drift(f: ReportFilter) -> DriftReport:
    """Each week's incoming tickets (their live predictions) against the reference: two
    GROUP BY week queries for the mix and the confidence, one on the decision facts for
    the unseen-word share (measured when a ticket is decided).

    Drift is about all the traffic: a category filter would make the mix look drifted.
    """
    f = dataclasses.replace(f, category=None)
    version, reference = _reference_for(f)
    predictions = incoming(f, version)
    slugs = category_slugs()
    weeks: dict[date, DriftWeek] = {}
    for r in predictions.values("week", "suggested_id").annotate(n=Count("id")).order_by():
        week = weeks.setdefault(r["week"], DriftWeek(week=r["week"], tickets=0))
        week.tickets += r["n"]
        week.mix[slugs[r["suggested_id"]]] = r["n"]
    weeks = dict(sorted(weeks.items()))
    for week in weeks.values():
        week.mix = {slug: n / week.tickets for slug, n in sorted(week.mix.items())}
        week.histogram = [0.0] * HISTOGRAM_BINS
    top = Value(HISTOGRAM_BINS - 1.0, output_field=FloatField())
    by_bin = predictions.annotate(bin=Least(Floor(F("confidence") * HISTOGRAM_BINS), top, output_field=FloatField()))
    for r in by_bin.values("week", "bin").annotate(n=Count("id")).order_by():
        week = weeks[r["week"]]
        week.histogram[int(r["bin"])] += r["n"] / week.tickets
    facts = f.facts().filter(unseen_share__isnull=False)
    if version is not None:
        facts = facts.filter(model_version=version)
    for r in facts.values("week").annotate(share=Avg("unseen_share")).order_by():
        if r["week"] in weeks:
            weeks[r["week"]].unseen_share = r["share"]
    warnings: list[str] = []
    limit = settings.REPORTS_PSI_WARNING
    for week in weeks.values():
        if reference is None:
            continue
        judged = week.tickets >= settings.REPORTS_DRIFT_MIN_TICKETS
        if reference.class_mix:
            week.mix_psi = psi(reference.class_mix, week.mix)
            if judged and week.mix_psi > limit:
                warnings.append(
                    f"Week of {week.week}: the mix of suggested categories moved (PSI {week.mix_psi:.2f} > {limit})."
                )
        if reference.confidence_histogram:
            expected = {str(i): s for i, s in enumerate(reference.confidence_histogram)}
            week.confidence_psi = psi(expected, {str(i): s for i, s in enumerate(week.histogram)})
            if judged and week.confidence_psi > limit:
                warnings.append(
                    f"Week of {week.week}: the confidence distribution moved (PSI {week.confidence_psi:.2f} > {limit})."
                )
        rise = settings.REPORTS_UNSEEN_WARNING
        if judged and week.unseen_share is not None and week.unseen_share > reference.unseen_share + rise:
            warnings.append(
                f"Week of {week.week}: {week.unseen_share:.0%} of words are new to the model "
                f"(training: {reference.unseen_share:.0%}; warning above +{rise:.0%})."
            )
    return DriftReport(version=version, reference=reference, weeks=list(weeks.values()), warnings=warnings)
