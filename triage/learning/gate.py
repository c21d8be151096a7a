"""The promotion gate: may a candidate replace the live model?

Both models are scored on the same held-out tickets (the most recent ones). The
candidate passes when its macro-F1 is not below the live model's by more than a
margin, and no category's recall falls by more than a set amount. Categories
with too few held-out tickets to measure a recall are not judged on it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class GateVerdict:
    passed: bool
    reasons: list[str] = field(default_factory=list)
    # Categories whose recall fell by more than the allowed drop: slug -> (live, candidate).
    recall_drops: dict[str, tuple[float, float]] = field(default_factory=dict)
    # False when there was nothing to compare on: not passed, but not rejected either.
    judged: bool = True

    @property
    def summary(self) -> str:
        return "; ".join(self.reasons)


def gate_verdict(
    candidate: dict[str, Any],
    live: dict[str, Any] | None,
    *,
    max_macro_f1_drop: float,
    max_recall_drop: float,
    min_support: int = 5,
) -> GateVerdict:
    """Judge `candidate` against `live`, both `triage.ml.scoring.score()` results on the same tickets."""
    if not live:
        return GateVerdict(True, ["no live model scored on this holdout: the candidate goes live"])
    if not candidate:
        return GateVerdict(False, ["no holdout to compare on: kept as a candidate"], judged=False)
    reasons: list[str] = []
    passed = True
    new_f1, old_f1 = float(candidate["macro_f1"]), float(live["macro_f1"])
    if new_f1 < old_f1 - max_macro_f1_drop:
        passed = False
        reasons.append(
            f"macro-F1 {new_f1:.4f} is below the live model's {old_f1:.4f} by more than {max_macro_f1_drop:.4f}"
        )
    else:
        reasons.append(f"macro-F1 {new_f1:.4f} vs live {old_f1:.4f} (allowed drop {max_macro_f1_drop:.4f})")
    drops: dict[str, tuple[float, float]] = {}
    new_cats = candidate.get("per_category") or {}
    for slug, old in (live.get("per_category") or {}).items():
        if not isinstance(old, dict) or old.get("support", 0) < min_support or slug not in new_cats:
            continue
        before, after = float(old["recall"]), float(new_cats[slug]["recall"])
        # A drop of exactly the allowance passes, whatever float rounding makes of it.
        if before - after > max_recall_drop + 1e-9:
            drops[slug] = (before, after)
    if drops:
        passed = False
        worst = sorted(drops.items(), key=lambda item: item[1][1] - item[1][0])[:5]
        listed = ", ".join(f"{slug} {old:.2f}→{new:.2f}" for slug, (old, new) in worst)
        reasons.append(f"recall fell by more than {max_recall_drop:.2f} in {len(drops)} categories: {listed}")
    else:
        reasons.append(f"no category's recall fell by more than {max_recall_drop:.2f}")
    return GateVerdict(passed, reasons, drops)
