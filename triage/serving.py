"""Serving: each process holds the active model in memory and swaps it atomically.

`active_model()` is called on every ingest. At most every MODEL_REFRESH_SECONDS
it asks the database which version is live (one indexed query); when that
changed it loads the new artifact and swaps the reference.

A version that fails to load, for any reason (an altered artifact, a pipeline of
another shape), is refused once and logged; the previous model keeps serving. A
process that starts with no previous model serves the newest earlier live version
that loads instead, and says so. Either way `health()` reports the process degraded
until the live version itself serves.
"""

from __future__ import annotations

import gc
import hashlib
import logging
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import NamedTuple

from django.conf import settings
from django.db import DatabaseError

from triage.learning.registry import ArtifactRefusedError, model_version_load
from triage.learning.scores import version_scores
from triage.ml.abstention import abstain_reason
from triage.ml.language import detect_language
from triage.ml.streaming_suggest import StreamingSuggester, suggester_for
from triage.ml.suggest import Suggester, Suggestion
from triage.models import Category, ModelVersion
from triage.taxonomy.selectors import category_slugs_by_label, suggestable_categories

logger = logging.getLogger(__name__)


_SPACES = re.compile(r"\s+")


class SuggestionCache:
    """Repeated messages ("card not arrived", the same bot text) served from memory.

    Keyed by the subject and body with whitespace collapsed, held per loaded model
    version: a new version gets a new, empty cache. Thread-safe; least recently used
    entries go first.
    """

    def __init__(self, size: int) -> None:
        self.size = size
        self.entries: OrderedDict[bytes, Suggestion] = OrderedDict()
        self.lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    @staticmethod
    def key(subject: str, body: str) -> bytes:
        """The same subject and body up to runs of whitespace, which the model ignores.

        Not the joined text, nor lowercased: the model weighs the subject on its
        own, and reasons quote the ticket's own words as written. (A NUL can't
        come in: every entry point refuses it.)
        """
        text = f"{_SPACES.sub(' ', subject).strip()}\x00{_SPACES.sub(' ', body).strip()}"
        # A 128-bit digest, not the text: 4,096 20,000-character bodies held as keys
        # were half a gigabyte per process.
        return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).digest()

    def get(self, key: bytes) -> Suggestion | None:
        with self.lock:
            found = self.entries.get(key)
            if found is None:
                self.misses += 1
                return None
            self.hits += 1
            self.entries.move_to_end(key)
            return found

    def put(self, key: bytes, suggestion: Suggestion) -> None:
        if self.size <= 0:
            return
        with self.lock:
            self.entries[key] = suggestion
            self.entries.move_to_end(key)
            while len(self.entries) > self.size:
                self.entries.popitem(last=False)

    def stats(self) -> dict[str, float | int]:
        total = self.hits + self.misses
        return {
            "entries": len(self.entries),
            "hits": self.hits,
            "misses": self.misses,
            "hit_rate": round(self.hits / total, 4) if total else 0.0,
        }


class Served(NamedTuple):
    """A suggestion as serving gives it: on the best active category, and whether this
    process's cache of repeated messages answered it instead of the model."""

    suggestion: Suggestion
    category: Category
    cached: bool = False


@dataclass(frozen=True)
class LoadedModel:
    row: ModelVersion
    suggester: Suggester | StreamingSuggester
    # slug -> Category for the categories that may be suggested (active ones).
    categories: dict[str, Category]
    cache: SuggestionCache = field(default_factory=lambda: SuggestionCache(settings.SUGGESTION_CACHE_SIZE))
    # slug of a category merged away -> slug of the suggestable category it lives on in.
    aliases: dict[str, str] = field(default_factory=dict)

    @property
    def version_id(self) -> int:
        return self.row.pk

    @property
    def version(self) -> int:
        return self.row.version

    @cached_property
    def abstention(self) -> dict[str, float]:
        """Thresholds picked on the held-out tickets when this version was trained."""
        return version_scores(self.row).holdout.abstention

    def abstain_reason(self, suggestion: Suggestion) -> str:
        """Why the model should not answer: a ``Prediction.AbstainReason`` value, or ""
        (``triage.ml.abstention.abstain_reason``, with this version's thresholds)."""
        return abstain_reason(suggestion, self.abstention)

    def needs_human(self, suggestion: Suggestion) -> bool:
        """True when the model is not confident enough, or the ticket looks like nothing it knows."""
        return bool(self.abstain_reason(suggestion))

    def language(self, subject: str, body: str) -> str:
        """The ticket's language, detected on the very text the model reads, so the
        model's own detection (memoised) is free: one detection per ticket."""
        return detect_language(self.suggester.text(subject, body))

    def suggest(self, subject: str, body: str, *, cached: bool = True) -> Served | None:
        """The suggestion, moved to the best active category; None if none is active.

        ``cached=False`` asks the model itself (evaluate measures the model, not the cache).
        """
        from_cache = False
        if cached:
            key = self.cache.key(subject, body)
            hit = self.cache.get(key)
            from_cache = hit is not None
            if hit is None:
                hit = self.suggester.suggest(subject, body)
                self.cache.put(key, hit)
            suggestion = hit
        else:
            suggestion = self.suggester.suggest(subject, body)
        if suggestion.label in self.categories and not self.aliases:
            return Served(suggestion, self.categories[suggestion.label], from_cache)  # the usual case
        # A category merged away counts for the one it was merged into (a model
        # trained before the merge, until the retrain the merge queues), over every
        # class, not only the few the suggestion lists: a survivor ranked fifth can
        # still win with the share of a category merged into it. A retired category
        # with no survivor drops out.
        ranked = [(suggestion.label, suggestion.confidence), *suggestion.alternatives]
        if self.aliases:
            every = self.suggester.predict_proba_one(subject, body).tolist()
            ranked = list(zip(self.suggester.classes, every, strict=True))
        merged: dict[str, float] = {}
        for label, confidence in ranked:
            target = label if label in self.categories else self.aliases.get(label)
            if target is not None:
                merged[target] = merged.get(target, 0.0) + confidence
        if not merged:
            return None
        order = sorted(merged.items(), key=lambda item: -item[1])
        best, confidence = order[0]
        own = best in (suggestion.label, self.aliases.get(suggestion.label))  # the model's own top class
        suggestion = replace(
            suggestion,
            label=best,
            confidence=min(1.0, confidence),
            alternatives=order[1 : 1 + len(suggestion.alternatives)],
            reasons=suggestion.reasons if own else [],
        )
        return Served(suggestion, self.categories[best], from_cache)


@dataclass(frozen=True)
class AsServed:
    """A model's suggestions as serving gives them under today's taxonomy: a class
    merged away counts for its survivor, a retired one drops out. The promotion gate
    compares a candidate with the live model this way, not with its raw classes."""

    model: LoadedModel

    def suggest_many(self, pairs: Iterable[tuple[str, str]]) -> list[Suggestion]:
        nothing = Suggestion(label="", confidence=0.0, alternatives=[], reasons=[])
        return [(self.model.suggest(s, b, cached=False) or (nothing, None))[0] for s, b in pairs]


def as_served(row: ModelVersion, suggester: Suggester | StreamingSuggester) -> AsServed:
    categories = _suggestable()
    return AsServed(LoadedModel(row, suggester, categories, aliases=_aliases(categories, suggester.classes)))


class _Holder:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.current: LoadedModel | None = None
        # A candidate predicting beside the live model, its predictions stored unseen.
        self.shadow: LoadedModel | None = None
        self.checked_at = float("-inf")
        self.failed_version_id: int | None = None
        # Why the live version is not the one serving ("" when it is).
        self.degraded = ""


_holder = _Holder()

# Earlier live versions tried, newest first, when a starting process cannot load the live one.
FALLBACK_TRIES = 5


def active_model() -> LoadedModel | None:
    """The live model, refreshed from the database at most every few seconds.

    While one thread loads a new version the others keep the current one; with
    none loaded yet (a process's first seconds) they wait for it, so the first
    tickets don't go without a suggestion.
    """
    now = time.monotonic()
    if now - _holder.checked_at < settings.MODEL_REFRESH_SECONDS and _holder.current is not None:
        return _holder.current
    with _holder.lock:
        if now - _holder.checked_at < settings.MODEL_REFRESH_SECONDS:
            return _holder.current
        _holder.checked_at = now
        _refresh()
    return _holder.current


def warm() -> LoadedModel | None:
    """Load the live model and run one suggestion through it, so that the first ticket
    after a process starts does not pay for loading the artifact, the encoder's session
    or the stemmers (the ASGI lifespan calls it before the server takes requests).

    A database that is not up yet is logged and left to the first ticket, which loads
    the model then; a model that cannot run here (its encoder is not installed) raises.
    """
    try:
        model = active_model()
    except DatabaseError:
        logger.warning("database unavailable at start: the live model loads with the first ticket", exc_info=True)
        return None
    if model is not None:
        model.suggester.suggest("Warm up", "Warming up the model before the first ticket.")
    return model


def shadow_model() -> LoadedModel | None:
    """The version in shadow, if any (refreshed together with the live one)."""
    active_model()
    return _holder.shadow


@dataclass(frozen=True)
class Health:
    serving_version: int | None
    degraded: str  # why the live version is not the one serving; "" when it is


def health(*, refresh: bool = True) -> Health:
    """What this process serves, and whether that is the live version (for /healthz).
    `refresh=False` reports what is loaded without asking the database."""
    current = active_model() if refresh else _holder.current
    return Health(current.version if current else None, _holder.degraded)


def cache_stats() -> dict[str, float | int]:
    current = _holder.current
    return current.cache.stats() if current is not None else {}


def reset() -> None:
    """Forget the loaded model (tests, and after a promotion in this process)."""
    with _holder.lock:
        _holder.current = None
        _holder.shadow = None
        _holder.checked_at = float("-inf")
        _holder.failed_version_id = None
        _holder.degraded = ""


def _freeze_heap() -> None:
    """Move what is alive now (Django, the model's vocabularies) out of the cyclic garbage
    collector's sight: otherwise each full collection walks them all, a pause long enough to
    show in whichever request's p99 triggers it (`bench/ingest.py`). Refcounting still frees
    a replaced model."""
    gc.unfreeze()
    gc.collect()
    gc.freeze()


def _signature(categories: dict[str, Category]) -> list[tuple[int, str, int]]:
    # Every taxonomy edit bumps the version: names, thresholds, queues are reloaded.
    return sorted((c.pk, c.slug, c.version) for c in categories.values())


def _suggestable() -> dict[str, Category]:
    """Active categories with enough examples (triage/taxonomy): retired and too-new
    categories are never suggested."""
    return {c.slug: c for c in suggestable_categories()}


def _aliases(categories: dict[str, Category], classes: list[str]) -> dict[str, str]:
    """The model's classes that were merged away, by slug -> the suggestable survivor's
    slug (following chains). Only a model's own classes: a merge older than the model
    must not send every ticket down the slower path in `LoadedModel.suggest`."""
    retired = list(Category.objects.filter(is_active=False, slug__in=classes).values_list("slug", flat=True))
    return {
        slug: survivor
        for slug, survivor in category_slugs_by_label(retired).items()
        if survivor is not None and survivor != slug and survivor in categories
    }


def _refresh() -> None:
    _refresh_live()
    _refresh_shadow()


def _refresh_shadow() -> None:
    row = ModelVersion.objects.filter(shadow_since__isnull=False).only("id", "version").first()
    current = _holder.shadow
    if row is None:
        _holder.shadow = None
        return
    live = _holder.current
    if current is not None and current.version_id == row.id:
        # The same version: follow taxonomy edits as the live model does.
        categories = live.categories if live else _suggestable()
        aliases = _aliases(categories, current.suggester.classes)
        if (_signature(categories), aliases) != (_signature(current.categories), current.aliases):
            _holder.shadow = LoadedModel(current.row, current.suggester, categories, current.cache, aliases)
        return
    categories = live.categories if live else _suggestable()
    try:
        _holder.shadow = _load(ModelVersion.objects.get(pk=row.id), categories)
    except ModelRefusedError as exc:
        logger.error("refusing shadow model v%s: %s", row.version, exc)
        _holder.shadow = None
        return
    logger.info("shadow model v%s loaded", row.version)


class ModelRefusedError(Exception):
    """A version that cannot serve: its artifact refused, or its pipeline unusable here."""


def _load(row: ModelVersion, categories: dict[str, Category]) -> LoadedModel:
    """Load, verify and try a version on one ticket; any failure is a ModelRefusedError."""
    try:
        suggester = suggester_for(model_version_load(row))
        # A verified artifact can still hold a pipeline of another shape (signed with our
        # key, built elsewhere): it must answer a ticket here, not on the first real one.
        suggester.suggest("Assist checks this model", "before it serves tickets")
    except ArtifactRefusedError as exc:
        raise ModelRefusedError(str(exc)) from exc
    except Exception as exc:  # whatever breaks, the version must not serve
        raise ModelRefusedError(f"model v{row.version} does not work here: {type(exc).__name__}: {exc}") from exc
    return LoadedModel(row, suggester, categories, aliases=_aliases(categories, suggester.classes))


def _refresh_live() -> None:
    active = ModelVersion.objects.only("id", "version").live()
    current = _holder.current
    if active is None:
        if current is not None:
            logger.warning("no active model any more; tickets arrive without suggestions")
        _holder.current = None
        _holder.degraded = ""
        return
    categories = _suggestable()
    if current is not None and current.version_id == active.id:
        aliases = _aliases(categories, current.suggester.classes)
        if _signature(categories) != _signature(current.categories) or aliases != current.aliases:
            _holder.current = LoadedModel(current.row, current.suggester, categories, current.cache, aliases)
        return
    if active.id == _holder.failed_version_id:
        _follow_taxonomy(categories)
        return  # already refused; keep serving what serves without retrying every tick
    started = time.perf_counter()
    full = ModelVersion.objects.get(pk=active.id)
    try:
        _holder.current = _load(full, categories)
    except ModelRefusedError as exc:
        _holder.failed_version_id = active.id
        if current is None:
            current = _holder.current = _fallback(full, categories)
        serving = f"v{current.version}" if current else "no model"
        _holder.degraded = f"live model v{full.version} refused ({exc}); serving {serving}"
        logger.error("refusing model v%s: %s; still serving %s", full.version, exc, serving)
        return
    _holder.degraded = ""
    _holder.failed_version_id = None
    # Load the language detector now, not on the first ticket (it takes seconds).
    detect_language("warm up the detector")
    _freeze_heap()
    logger.info("serving model v%s (loaded in %.0f ms)", full.version, (time.perf_counter() - started) * 1000)


def _follow_taxonomy(categories: dict[str, Category]) -> None:
    """A fallback model keeps following taxonomy edits while the live one is refused."""
    current = _holder.current
    if current is None:
        return
    aliases = _aliases(categories, current.suggester.classes)
    if _signature(categories) != _signature(current.categories) or aliases != current.aliases:
        _holder.current = LoadedModel(current.row, current.suggester, categories, current.cache, aliases)


def _fallback(refused: ModelVersion, categories: dict[str, Category]) -> LoadedModel | None:
    """The newest version that was live before `refused` and still loads, or None."""
    earlier = (
        ModelVersion.objects.filter(activated_at__isnull=False, version__lt=refused.version)
        .exclude(pk=refused.pk)
        .order_by("-version")[:FALLBACK_TRIES]
    )
    for row in earlier:
        try:
            loaded = _load(row, categories)
        except ModelRefusedError as exc:
            logger.error("fallback model v%s refused too: %s", row.version, exc)
            continue
        logger.error(
            "FALLBACK: live model v%s cannot be loaded; serving the earlier live model v%s until it is fixed",
            refused.version,
            row.version,
        )
        return loaded
    return None
