"""The model registry: store a trained pipeline as a signed artifact, load it back safely.

An artifact is written through Django's storage API (a shared folder or S3), so
a model trained by a worker on one machine loads in web processes on others.
Loading checks the SHA-256 and the HMAC recorded in the database before skops
reads a byte, and skops itself only accepts the types in `artifacts.TRUSTED_TYPES`.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

from django.conf import settings
from django.core.files.base import ContentFile
from django.db import transaction

from triage.ml import artifacts
from triage.models import ModelVersion


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
