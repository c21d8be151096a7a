"""What goes live: promotion, rollback and shadow.

Every way a version goes live (the gate, "activate always", a promotion or a
rollback by hand, the promote command) ends in `model_version_activate`. Every
process picks the new version up within MODEL_REFRESH_SECONDS (triage/serving.py).
"""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from triage.learning import broadcast
from triage.learning.gate import GateVerdict
from triage.learning.registry import ArtifactRefusedError, model_version_load
from triage.learning.selectors import shadow_scored_count
from triage.models import ModelPromotion, ModelVersion

logger = logging.getLogger(__name__)

# `activate` of a new version: always live, live only if the gate passes it, or never.
ACTIVATE_CHOICES = ("always", "gate", "never")


class PromotionError(Exception):
    """A version that cannot go live (unknown, tampered, or not shadow-scored enough)."""


class LiveModelChangedError(RuntimeError):
    """Another version went live since the one this promotion was judged against."""


# `expected_live` default: promote whatever is live now.
ANY_LIVE: Any = object()


@transaction.atomic
def model_version_activate(
    *,
    version: ModelVersion,
    user: Any = None,
    action: str = ModelPromotion.Action.PROMOTE,
    reason: str = "",
    expected_live: ModelVersion | None = ANY_LIVE,
) -> ModelVersion:
    """Make `version` the live model, retire the previous live one, and record who and why.

    `expected_live`: the version (or None: no live model) the promotion was judged
    against; if another one is live now, raise `LiveModelChangedError` and change
    nothing.
    """
    # Lock every version row, in one order, before reading which one is live: two
    # promotions at once then run one after the other. (Locking only the live row
    # would let the second, once the first committed, find no live row and break
    # the one-live-model constraint.)
    list(ModelVersion.objects.select_for_update().order_by("pk").values_list("pk", flat=True))
    previous = ModelVersion.objects.exclude(pk=version.pk).live()
    if expected_live is not ANY_LIVE and (previous.pk if previous else None) != (
        expected_live.pk if expected_live else None
    ):
        now = f"v{previous.version}" if previous else "none"
        judged = f"v{expected_live.version}" if expected_live else "none"
        raise LiveModelChangedError(f"the live model is {now}, not {judged} as when this one was judged")
    if previous is not None:
        previous.status = ModelVersion.Status.RETIRED
        previous.save(update_fields=["status"])
    version.status = ModelVersion.Status.ACTIVE
    version.shadow_since = None
    version.activated_at = timezone.now()
    version.activated_by = user if user is not None and user.is_authenticated else None
    version.save(update_fields=["status", "shadow_since", "activated_at", "activated_by"])
    ModelPromotion.objects.create(
        version=version, previous=previous, action=action, user=version.activated_by, reason=reason
    )
    logger.info("model v%s is now active (%s%s)", version.version, action, f": {reason}" if reason else "")
    return version


def candidate_settle(
    *,
    version: ModelVersion,
    verdict: GateVerdict,
    activate: str,
    live_at_start: ModelVersion | None,
    live_scored: bool,
    user: Any = None,
    still_wanted: bool = True,
) -> tuple[bool, str]:
    """Decide what a newly trained version becomes and record why: live, in shadow,
    rejected, or a candidate. Returns (went live, the reason written to its notes).

    `activate="gate"`: live when it passes the gate against `live_at_start`, first
    into shadow when promotions need shadow-scored tickets; rejected when it fails;
    kept as a candidate when it could not be compared, or another version went live
    meanwhile. `live_scored`: the live model was scored beside it (the shadow
    step needs a live model to compare with). `still_wanted` False (its run was
    stopped) keeps it a candidate.
    """
    activated, reason = False, "kept as a candidate on request"
    if activate != "never" and not still_wanted:
        reason = "its training run was stopped (marked failed) before it finished: kept as a candidate"
    elif activate == "always":
        activated, reason = True, "activated on request"
        model_version_activate(version=version, user=user, action=ModelPromotion.Action.PROMOTE, reason=reason)
    elif activate == "gate" and not verdict.passed:
        if not verdict.judged:
            reason = verdict.summary
        else:
            version.status = ModelVersion.Status.REJECTED
            reason = f"rejected by the gate: {verdict.summary}"
    elif activate == "gate" and live_scored and settings.PROMOTION_MIN_SHADOW_TICKETS > 0:
        _shadow_only(version)
        reason = (
            f"passed the gate ({verdict.summary}); in shadow until "
            f"{settings.PROMOTION_MIN_SHADOW_TICKETS} of its predictions are checked by agents"
        )
    elif activate == "gate":
        activated, reason = True, f"promoted by the gate: {verdict.summary}"
        try:
            model_version_activate(
                version=version,
                user=user,
                action=ModelPromotion.Action.GATE,
                reason=reason,
                expected_live=live_at_start,
            )
        except LiveModelChangedError as exc:
            activated, reason = False, f"passed the gate ({verdict.summary}), but {exc}: kept as a candidate"
    version.notes = reason
    version.save(update_fields=["status", "notes", "shadow_since"])
    return activated, reason


def model_promote(*, version: ModelVersion, user: Any, reason: str = "") -> ModelVersion:
    """Make `version` live by hand: a promotion, or a rollback to an older version.

    The artifact is verified before anything changes; a version still in shadow
    needs PROMOTION_MIN_SHADOW_TICKETS agent-decided tickets first.
    """
    live = ModelVersion.objects.live()
    if live is not None and live.pk == version.pk:
        raise PromotionError(f"v{version.version} is already live")
    try:
        model_version_load(version)
    except ArtifactRefusedError as exc:
        logger.error("refusing to promote: %s", exc)
        raise PromotionError(str(exc)) from exc
    was_live = ModelPromotion.objects.filter(version=version).exists()
    needed = settings.PROMOTION_MIN_SHADOW_TICKETS
    if needed > 0 and not was_live and live is not None:
        scored = shadow_scored_count(version)
        if scored < needed:
            raise PromotionError(
                f"v{version.version} has {scored} shadow predictions decided by agents; promotion needs {needed}"
            )
    rollback = live is not None and version.version < live.version
    action = ModelPromotion.Action.ROLLBACK if rollback else ModelPromotion.Action.PROMOTE
    with transaction.atomic():
        model_version_activate(version=version, user=user, action=action, reason=reason)
        if version.notes and rollback:
            version.notes = f"{version.notes} · rolled back to by {getattr(user, 'username', 'a command')}"
            version.save(update_fields=["notes"])
    transaction.on_commit(broadcast.models_changed)
    return version


@transaction.atomic
def model_shadow_set(*, version: ModelVersion, on: bool, user: Any = None) -> ModelVersion:
    """Put a version in shadow (it predicts every new ticket unseen), or take it out."""
    if on:
        if version.status == ModelVersion.Status.ACTIVE:
            raise PromotionError(f"v{version.version} is live; only another version can shadow it")
        try:
            model_version_load(version)
        except ArtifactRefusedError as exc:
            raise PromotionError(str(exc)) from exc
        _shadow_only(version)
    else:
        version.shadow_since = None
    version.save(update_fields=["shadow_since"])
    logger.info(
        "v%s %s shadow by %s", version.version, "in" if on else "out of", getattr(user, "username", "a command")
    )
    transaction.on_commit(broadcast.models_changed)
    return version


def _shadow_only(version: ModelVersion) -> None:
    """One shadow at a time: starting one (the caller saves it) ends the previous."""
    ModelVersion.objects.exclude(pk=version.pk).filter(shadow_since__isnull=False).update(shadow_since=None)
    version.shadow_since = timezone.now()
