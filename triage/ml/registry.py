"""The model registry: store a trained pipeline as a signed artifact, load it back safely.

An artifact is written through Django's storage API (a shared folder or S3), so
a model trained by a worker on one machine loads in web processes on others.
Loading checks the SHA-256 and the HMAC recorded in the database before skops
reads a byte, and skops itself only accepts the types in `artifacts.TRUSTED_TYPES`.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from typing import Any

from django.conf import settings
from django.core.files.base import ContentFile
from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from triage.ml import artifacts
from triage.models import ModelPromotion, ModelVersion

logger = logging.getLogger(__name__)


class ArtifactRefusedError(Exception):
    """The artifact is missing, was altered, or holds types we do not trust."""


def _sign(data: bytes) -> str:
    return hmac.new(settings.MODEL_SIGNING_KEY.encode(), data, hashlib.sha256).hexdigest()


@transaction.atomic
def model_version_create(
    *,
    pipeline: Any,
    classes: list[str],
    params: dict[str, Any],
    metrics: dict[str, Any],
    lineage: dict[str, Any],
) -> ModelVersion:
    """Serialise, sign and register a trained pipeline as a new candidate version."""
    data = artifacts.dumps(pipeline)
    # Lock the table's newest row so two trainings never take the same number.
    last = ModelVersion.objects.select_for_update().order_by("-version").first()
    number = (last.version if last else 0) + 1
    version = ModelVersion(
        version=number,
        sha256=hashlib.sha256(data).hexdigest(),
        hmac=_sign(data),
        classes=classes,
        params=params,
        metrics=metrics,
        **lineage,
    )
    version.artifact.save(f"model-v{number:04d}.skops", ContentFile(data), save=False)
    version.save()
    return version


def model_version_load(version: ModelVersion) -> Any:
    """Read, verify and deserialise a version's pipeline, or raise ArtifactRefusedError."""
    try:
        with version.artifact.open("rb") as fh:
            data = fh.read()
    except (OSError, ValueError) as exc:
        raise ArtifactRefusedError(
            f"model v{version.version}: artifact {version.artifact.name!r} unreadable: {exc}"
        ) from exc
    digest = hashlib.sha256(data).hexdigest()
    if not hmac.compare_digest(digest, version.sha256):
        raise ArtifactRefusedError(f"model v{version.version}: SHA-256 mismatch, the artifact was altered")
    if not hmac.compare_digest(_sign(data), version.hmac):
        raise ArtifactRefusedError(f"model v{version.version}: HMAC mismatch, the artifact was not signed by us")
    try:
        return artifacts.loads(data)
    except ValueError as exc:
        raise ArtifactRefusedError(f"model v{version.version}: {exc}") from exc


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
    nothing. Every process picks the new version up within MODEL_REFRESH_SECONDS
    (serving.py).
    """
    # Lock every version row, in one order, before reading which one is live: two
    # promotions at once then run one after the other. (Locking only the live row
    # let the second, once the first committed, find no live row and break the
    # one-live-model constraint.)
    list(ModelVersion.objects.select_for_update().order_by("pk").values_list("pk", flat=True))
    previous = ModelVersion.objects.filter(status=ModelVersion.Status.ACTIVE).exclude(pk=version.pk).first()
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
    promotion = ModelPromotion.objects.create(
        version=version, previous=previous, action=action, user=version.activated_by, reason=reason
    )
    # Every way a version goes live (the gate, a promotion, a rollback) passes here:
    # webhook endpoints hear of it in the same transaction.
    from triage.integrations import outbox

    outbox.event_record(event_type=outbox.MODEL_PROMOTED, data=outbox.model_promotion_data(promotion))
    logger.info("model v%s is now active (%s%s)", version.version, action, f": {reason}" if reason else "")
    return version


def next_version_number() -> int:
    return (ModelVersion.objects.aggregate(m=Max("version"))["m"] or 0) + 1
