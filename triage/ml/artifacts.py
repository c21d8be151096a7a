"""Safe (de)serialisation of fitted pipelines with skops (never pickle).

Loading checks every type named in the artifact against an explicit
allow-list *before* any object is constructed, so a tampered artifact in the
database or object store cannot execute code on load.
"""

from __future__ import annotations

import zipfile

import skops.io as sio
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.pipeline import Pipeline

# Types skops does not trust by default but our pipelines legitimately
# contain. Written out by hand on purpose: adding a type here is a security
# decision (skops' own defaults cover numpy, scipy.sparse and most sklearn
# estimators such as Pipeline, FeatureUnion, TfidfVectorizer, LinearSVC).
TRUSTED_TYPES: tuple[str, ...] = (
    "triage.ml.text.SubjectBodyJoiner",
    "triage.ml.text.TextNormalizer",
    "triage.ml.text.WordPairs",
    # Holds the encoder's name, its weights hash and the training tickets'
    # embeddings (a numpy array): the encoder's weights stay in the installed
    # package (stored by reference), never in the artifact.
    "triage.ml.encoder.SentenceEncoderFeatures",
    "triage.ml.pipeline.CalibratedLinearClassifier",
    # The large-data model (streaming.py): hashed features, SGD with a temperature.
    "triage.ml.streaming.HashedTicketFeatures",
    "triage.ml.streaming.StreamingLinearClassifier",
)


class UntrustedArtifactError(ValueError):
    """The artifact names types outside ``TRUSTED_TYPES``, or is unreadable."""


class CorruptArtifactError(UntrustedArtifactError):
    """The bytes are not a readable skops artifact (truncated, not a zip, ...)."""


def dumps(pipeline: Pipeline) -> bytes:
    """Serialise a (fitted) pipeline to skops bytes.

    Drops the vectorisers' ``stop_words_`` first: it only lists the terms
    pruned by min_df (introspection only, unused by transform) and can be
    large. Deflate because skops' schema.json spells every vocabulary entry
    as a JSON node (~32 MB stored on Banking77).
    """
    for _, step in pipeline.get_params(deep=True).items():
        if isinstance(step, TfidfVectorizer) and getattr(step, "stop_words_", None) is not None:
            step.stop_words_ = None
    return sio.dumps(pipeline, compression=zipfile.ZIP_DEFLATED, compresslevel=6)


def loads(data: bytes) -> Pipeline:
    """Load a pipeline from skops bytes, refusing anything not allow-listed.

    Raises:
        UntrustedArtifactError: the artifact contains types not in TRUSTED_TYPES.
        CorruptArtifactError: the bytes are not a valid skops artifact, or do
            not hold a Pipeline.
    """
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise CorruptArtifactError(f"Expected bytes, got {type(data).__name__}.")
    data = bytes(data)
    try:
        untrusted = sio.get_untrusted_types(data=data)
    except Exception as exc:  # zipfile.BadZipFile, KeyError, JSONDecodeError, ...
        raise CorruptArtifactError(f"Unreadable model artifact: {exc!r}") from exc
    refused = sorted(set(untrusted) - set(TRUSTED_TYPES))
    if refused:
        raise UntrustedArtifactError(f"Model artifact contains untrusted types: {refused}")
    try:
        obj = sio.loads(data, trusted=list(TRUSTED_TYPES))
    except sio.exceptions.UntrustedTypesFoundException as exc:
        raise UntrustedArtifactError(str(exc)) from exc
    except Exception as exc:  # schema says OK but the content is broken
        raise CorruptArtifactError(f"Unreadable model artifact: {exc!r}") from exc
    if not isinstance(obj, Pipeline):
        raise CorruptArtifactError(f"Artifact holds a {type(obj).__name__}, not a Pipeline.")
    return obj
