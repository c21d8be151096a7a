"""Serving: each process holds the active model in memory and swaps it atomically.

`active_model()` is called on every ingest. At most every MODEL_REFRESH_SECONDS
it asks the database which version is live (one indexed query); when that
changed it loads the new artifact and swaps the reference. A version that
fails to load is logged and the previous model keeps serving.
"""

from __future__ import annotations

import gc
import logging
import threading
import time
from dataclasses import dataclass

from django.conf import settings

from triage.ml.registry import ArtifactRefusedError, model_version_load
from triage.ml.suggest import Suggester, Suggestion
from triage.models import Category, ModelVersion

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class LoadedModel:
    row: ModelVersion
    suggester: Suggester
    # slug -> Category for the categories that may be suggested (active ones).
    categories: dict[str, Category]

    @property
    def version_id(self) -> int:
        return self.row.pk

    @property
    def version(self) -> int:
        return self.row.version

    @property
    def abstention(self) -> dict[str, float]:
        """Thresholds picked on the held-out tickets when this version was trained."""
        return (self.row.metrics.get("holdout") or {}).get("abstention") or {}

    def needs_human(self, suggestion: Suggestion) -> bool:
        """True when the model is not confident enough, or the ticket looks like nothing it knows."""
        limits = self.abstention
        return suggestion.confidence < limits.get("min_confidence", 0.0) or suggestion.known_share < limits.get(
            "min_known_share", 0.0
        )

    def suggest(self, subject: str, body: str) -> tuple[Suggestion, Category] | None:
        """The suggestion, moved to the best active category; None if none is active."""
        suggestion = self.suggester.suggest(subject, body)
        ranked = [(suggestion.label, suggestion.confidence), *suggestion.alternatives]
        for label, confidence in ranked:
            category = self.categories.get(label)
            if category is not None:
                if label != suggestion.label:
                    alternatives = [alt for alt in suggestion.alternatives if alt[0] != label]
                    suggestion = Suggestion(label, confidence, alternatives, [], suggestion.known_share)
                return suggestion, category
        return None


class _Holder:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.current: LoadedModel | None = None
        self.checked_at = float("-inf")
        self.failed_version_id: int | None = None


_holder = _Holder()


def active_model() -> LoadedModel | None:
    """The live model, refreshed from the database at most every few seconds."""
    now = time.monotonic()
    if now - _holder.checked_at < settings.MODEL_REFRESH_SECONDS:
        return _holder.current
    with _holder.lock:
        if now - _holder.checked_at < settings.MODEL_REFRESH_SECONDS:
            return _holder.current
        _holder.checked_at = now
        _refresh()
    return _holder.current


def reset() -> None:
    """Forget the loaded model (tests, and after a promotion in this process)."""
    with _holder.lock:
        _holder.current = None
        _holder.checked_at = float("-inf")
        _holder.failed_version_id = None


def _freeze_heap() -> None:
    """Move what is alive now (Django, the model's vocabularies: ~200k objects) out of
    the cyclic garbage collector's sight. Otherwise each full collection walks them
    all, a 100+ ms pause in whichever request triggers it. Refcounting still frees a
    replaced model."""
    gc.unfreeze()
    gc.collect()
    gc.freeze()


def _signature(categories: dict[str, Category]) -> list[tuple[int, str, str]]:
    return sorted((c.pk, c.slug, c.name) for c in categories.values())


def _refresh() -> None:
    active = ModelVersion.objects.filter(status=ModelVersion.Status.ACTIVE).only("id", "version").first()
    current = _holder.current
    if active is None:
        if current is not None:
            logger.warning("no active model any more; tickets arrive without suggestions")
        _holder.current = None
        return
    categories = {c.slug: c for c in Category.objects.filter(is_active=True)}
    if current is not None and current.version_id == active.id:
        if _signature(categories) != _signature(current.categories):
            _holder.current = LoadedModel(current.row, current.suggester, categories)
        return
    if active.id == _holder.failed_version_id:
        return  # already refused; keep serving the previous model without retrying every tick
    started = time.perf_counter()
    full = ModelVersion.objects.get(pk=active.id)
    try:
        pipeline = model_version_load(full)
    except ArtifactRefusedError:
        _holder.failed_version_id = active.id
        logger.exception(
            "refusing model v%s; still serving %s",
            full.version,
            f"v{current.version}" if current else "no model",
        )
        return
    _holder.current = LoadedModel(full, Suggester(pipeline), categories)
    _freeze_heap()
    logger.info("serving model v%s (loaded in %.0f ms)", full.version, (time.perf_counter() - started) * 1000)
