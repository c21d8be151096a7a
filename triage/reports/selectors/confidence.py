"""Report 3: whether confidence can be trusted. The reliability diagram (confidence
against observed acceptance) and the coverage a confidence threshold would
auto-triage at a given precision, per category."""

from __future__ import annotations

from dataclasses import dataclass, field

from django.db.models import Count, Q, Sum

from triage.reports.filters import ReportFilter
from triage.reports.models import CONFIDENCE_BUCKETS
from triage.reports.selectors.common import category_slugs

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


@dataclass(frozen=True)
class BucketRow:
    suggested: str
    bucket: int
    n: int
    accepted: int
    confidence_sum: float


def confidence_rows(f: ReportFilter) -> list[BucketRow]:
    """Decisions per (suggested category, confidence percent): the one GROUP BY both
    the reliability diagram and the coverage curve fold."""
    slugs = category_slugs()
    rows = (
        f.facts()
        .filter(suggested__isnull=False, confidence_bucket__isnull=False)
        .values("suggested_id", "confidence_bucket")
        .annotate(n=Count("id"), accepted=Count("id", filter=Q(accepted=True)), total=Sum("confidence"))
        .order_by()
    )
    return [
        BucketRow(slugs[r["suggested_id"]], r["confidence_bucket"], r["n"], r["accepted"], r["total"] or 0.0)
        for r in rows
    ]


def report_reliability(f: ReportFilter, rows: list[BucketRow] | None = None) -> list[ReliabilityBin]:
    """Decisions per confidence percent, folded into equal-width bins."""
    rows = confidence_rows(f) if rows is None else rows
    width = CONFIDENCE_BUCKETS // RELIABILITY_BINS
    counts = [0] * RELIABILITY_BINS
    accepted = [0] * RELIABILITY_BINS
    weighted = [0.0] * RELIABILITY_BINS
    for r in rows:
        b = min(RELIABILITY_BINS - 1, r.bucket // width)
        counts[b] += r.n
        accepted[b] += r.accepted
        weighted[b] += r.confidence_sum
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


def report_coverage(f: ReportFilter, rows: list[BucketRow] | None = None) -> tuple[Coverage, list[Coverage]]:
    """The coverage curve over all categories (one threshold for all) and per suggested category."""
    rows = confidence_rows(f) if rows is None else rows
    overall: dict[int, tuple[int, int]] = {}
    per: dict[str, dict[int, tuple[int, int]]] = {}
    for r in rows:
        on, ook = overall.get(r.bucket, (0, 0))
        overall[r.bucket] = (on + r.n, ook + r.accepted)
        per.setdefault(r.suggested, {})[r.bucket] = (r.n, r.accepted)
    return _curve("all", overall), [_curve(slug, per[slug]) for slug in sorted(per)]


# The rows of the held-back table, in order: (needs_human, abstain_reason) -> label.
HELD_BACK_ROWS = {
    (False, ""): "Answered (suggestion pre-selected)",
    (True, "unsure"): "Needs a human: not sure enough",
    (True, "unfamiliar"): "Needs a human: unlike what it learned from",
    (True, "novel"): "Needs a human: unlike every ticket it learned from",
    (True, ""): "Needs a human: reason not recorded",
}


@dataclass(frozen=True)
class HeldBackRow:
    label: str
    decisions: int
    right: int
    share: float

    @property
    def right_share(self) -> float | None:
        return self.right / self.decisions if self.decisions else None


def report_held_back(f: ReportFilter) -> list[HeldBackRow]:
    """The model's suggestions it answered and held back ("needs a human"), by reason,
    and how often its guess was still the agent's choice. Held-back guesses that are
    mostly right say the target precision is stricter than the team needs."""
    counts = {
        (r["needs_human"], r["abstain_reason"]): (r["n"], r["right"])
        for r in f.facts()
        .filter(confidence__isnull=False, blind=False)
        .values("needs_human", "abstain_reason")
        .annotate(n=Count("id"), right=Count("id", filter=Q(accepted=True)))
        .order_by()
    }
    total = sum(n for n, _ in counts.values())
    rows = []
    for key, label in HELD_BACK_ROWS.items():
        n, right = counts.get(key, (0, 0))
        rows.append(HeldBackRow(label, n, right, share=n / total if total else 0.0))
    return rows
