"""Report 3: whether confidence can be trusted. The reliability diagram (confidence
against observed acceptance) and the coverage a confidence threshold would
auto-triage at a given precision, per category."""

from __future__ import annotations

from dataclasses import dataclass, field

from django.db.models import Avg, Count, Q

from triage.reports.filters import ReportFilter
from triage.reports.models import CONFIDENCE_BUCKETS

RELIABILITY_BINS = 10
PRECISION_TARGETS = (0.90, 0.95, 0.99)


@dataclass(frozen=True)
class ReliabilityBin:
    low: float
    high: float
    count: int
    accepted: int
    mean_confidence: float | None

    @property
    def observed(self) -> float | None:
        return self.accepted / self.count if self.count else None


def report_reliability(f: ReportFilter) -> list[ReliabilityBin]:
    """Decisions per confidence percent (one GROUP BY), folded into equal-width bins."""
    rows = (
        f.facts()
        .filter(suggested__isnull=False, confidence_bucket__isnull=False)
        .values("confidence_bucket")
        .annotate(n=Count("id"), accepted=Count("id", filter=Q(accepted=True)), mean=Avg("confidence"))
    )
    width = CONFIDENCE_BUCKETS // RELIABILITY_BINS
    counts = [0] * RELIABILITY_BINS
    accepted = [0] * RELIABILITY_BINS
    weighted = [0.0] * RELIABILITY_BINS
    for r in rows:
        b = min(RELIABILITY_BINS - 1, r["confidence_bucket"] // width)
        counts[b] += r["n"]
        accepted[b] += r["accepted"]
        weighted[b] += (r["mean"] or 0.0) * r["n"]
    return [
        ReliabilityBin(
            low=b / RELIABILITY_BINS,
            high=(b + 1) / RELIABILITY_BINS,
            count=counts[b],
            accepted=accepted[b],
            mean_confidence=weighted[b] / counts[b] if counts[b] else None,
        )
        for b in range(RELIABILITY_BINS)
    ]


@dataclass(frozen=True)
class CurvePoint:
    threshold: float
    coverage: float
    precision: float
    answered: int


@dataclass
class Coverage:
    """What a confidence threshold buys for one category (or all): per target precision,
    the largest share of its tickets answerable at that precision, and the threshold."""

    slug: str
    total: int
    curve: list[CurvePoint] = field(default_factory=list)

    def at(self, target: float) -> CurvePoint | None:
        passing = [p for p in self.curve if p.precision >= target]
        return max(passing, key=lambda p: (p.coverage, -p.threshold)) if passing else None


def _curve(slug: str, buckets: dict[int, tuple[int, int]]) -> Coverage:
    """Cumulative from the most confident bucket down: threshold t answers every
    ticket with confidence >= t; precision is the share of those agents kept."""
    total = sum(n for n, _ in buckets.values())
    coverage = Coverage(slug=slug, total=total)
    answered = correct = 0
    for bucket in sorted(buckets, reverse=True):
        n, ok = buckets[bucket]
        answered += n
        correct += ok
        coverage.curve.append(
            CurvePoint(
                threshold=bucket / CONFIDENCE_BUCKETS,
                coverage=answered / total,
                precision=correct / answered,
                answered=answered,
            )
        )
    return coverage


def report_coverage(f: ReportFilter) -> tuple[Coverage, list[Coverage]]:
    """The coverage curve over all categories (one threshold for all) and per suggested category."""
    rows = (
        f.facts()
        .filter(suggested__isnull=False, confidence_bucket__isnull=False)
        .values("suggested__slug", "confidence_bucket")
        .annotate(n=Count("id"), accepted=Count("id", filter=Q(accepted=True)))
    )
    overall: dict[int, tuple[int, int]] = {}
    per: dict[str, dict[int, tuple[int, int]]] = {}
    for r in rows:
        b, n, ok = r["confidence_bucket"], r["n"], r["accepted"]
        on, ook = overall.get(b, (0, 0))
        overall[b] = (on + n, ook + ok)
        per.setdefault(r["suggested__slug"], {})[b] = (n, ok)
    return _curve("all", overall), [_curve(slug, per[slug]) for slug in sorted(per)]
