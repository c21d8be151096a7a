"""The scores a model version stores (`ModelVersion.metrics`), read typed.

`train_model` writes them: each part is one `triage.ml.scoring.score()` result.
Pages, serving and the taxonomy read them through `version_scores`, never the JSON.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from triage.models import ModelVersion

# The keys of ModelVersion.metrics.
HOLDOUT = "holdout"
CANDIDATE = "candidate_on_comparison"
LIVE = "active_on_same_holdout"
GATE = "gate"


def _dict(raw: Any) -> dict[str, Any]:
    return raw if isinstance(raw, dict) else {}


@dataclass(frozen=True)
class Scores:
    """One set of figures on one set of tickets. `rows == 0`: nothing was scored."""

    rows: int = 0
    accuracy: float | None = None
    macro_f1: float | None = None
    ece: float | None = None
    auto_triage_share: float | None = None
    per_category: dict[str, dict[str, float]] = field(default_factory=dict)
    confusion: dict[str, list[Any]] = field(default_factory=lambda: {"labels": [], "matrix": []})
    # The "needs a human" thresholds picked on these tickets (triage.ml.abstention).
    abstention: dict[str, float] = field(default_factory=dict)
    # On the blind slice (agents saw no suggestion): {"rows", "accuracy"}, or empty.
    blind: dict[str, float] = field(default_factory=dict)
    # Which tickets the comparison with the live model was made on.
    basis: str = ""
    # On the live model's side of a comparison: its version number.
    version: int | None = None

    @property
    def scored(self) -> bool:
        return self.rows > 0

    @classmethod
    def of(cls, raw: Any) -> Scores:
        data = _dict(raw)
        confusion = _dict(data.get("confusion"))
        return cls(
            rows=int(data.get("rows") or 0),
            accuracy=data.get("accuracy"),
            macro_f1=data.get("macro_f1"),
            ece=data.get("ece"),
            auto_triage_share=data.get("auto_triage_share"),
            per_category=_dict(data.get("per_category")),
            confusion={"labels": confusion.get("labels") or [], "matrix": confusion.get("matrix") or []},
            abstention=_dict(data.get("abstention")),
            blind=_dict(data.get("blind")),
            basis=str(data.get("basis") or ""),
            version=data.get("version"),
        )


@dataclass(frozen=True)
class GateRecord:
    """The gate's verdict as the version recorded it (None: it was never judged)."""

    passed: bool | None = None
    reasons: list[str] = field(default_factory=list)
    recall_drops: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class VersionScores:
    # On its own most recent held-out tickets: these differ from one version to the next.
    holdout: Scores
    # The version and the model live when it trained, on the same tickets (the gate's comparison).
    candidate: Scores
    live: Scores
    gate: GateRecord

    @property
    def compared(self) -> bool:
        return self.candidate.scored and self.live.scored


def version_scores(version: ModelVersion) -> VersionScores:
    metrics = _dict(version.metrics)
    gate = _dict(metrics.get(GATE))
    return VersionScores(
        holdout=Scores.of(metrics.get(HOLDOUT)),
        candidate=Scores.of(metrics.get(CANDIDATE)),
        live=Scores.of(metrics.get(LIVE)),
        gate=GateRecord(
            passed=gate.get("passed"),
            reasons=list(gate.get("reasons") or []),
            recall_drops=_dict(gate.get("recall_drops")),
        ),
    )
