"""Live progress of trainings and model changes for the models page (/ws/models/)."""

from __future__ import annotations

from typing import Any

from triage.broadcast import group_send
from triage.models import TrainingRun

MODELS_GROUP = "models"


def run_payload(run: TrainingRun) -> dict[str, Any]:
    return {
        "id": run.pk,
        "kind": run.kind,
        "status": run.status,
        "stage": run.stage,
        "progress": round(run.progress, 3),
        "error": run.error,
        "version": run.model_version.version if run.model_version else None,
        "verdict": (run.results or {}).get("reason", ""),
    }


def run_changed(run_id: int) -> None:
    run = TrainingRun.objects.filter(pk=run_id).select_related("model_version").first()
    if run is None:
        return
    group_send(MODELS_GROUP, {"type": "models.event", "event": "run", "run": run_payload(run)})


def models_changed() -> None:
    group_send(MODELS_GROUP, {"type": "models.event", "event": "models_changed"})
