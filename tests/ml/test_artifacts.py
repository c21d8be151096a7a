"""Tests for triage.ml.artifacts: skops round trip and refusal of unsafe bytes."""

from __future__ import annotations

import io
import zipfile

import numpy as np
import pytest
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.pipeline import Pipeline

from triage.ml.artifacts import (
    TRUSTED_TYPES,
    CorruptArtifactError,
    UntrustedArtifactError,
    dumps,
    loads,
)
from triage.ml.pipeline import build_pipeline
from triage.ml.suggest import Suggester

from .test_pipeline import make_tickets


class Sneaky(TransformerMixin, BaseEstimator):
    """A harmless class that is, however, not on the allow-list."""

    def fit(self, X: object, y: object = None) -> Sneaky:
        return self

    def transform(self, X: list[str]) -> list[str]:
        return X


@pytest.fixture(scope="module")
def fitted() -> Pipeline:
    return build_pipeline().fit(*make_tickets())


@pytest.fixture(scope="module")
def blob(fitted: Pipeline) -> bytes:
    return dumps(fitted)


def _rewrite_schema(data: bytes, old: str, new: str) -> bytes:
    """Return a copy of a skops zip with ``old`` replaced by ``new`` in schema.json."""
    src = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as dst:
        for item in src.infolist():
            content = src.read(item.filename)
            if item.filename == "schema.json":
                assert old.encode() in content
                content = content.replace(old.encode(), new.encode())
            dst.writestr(item, content)
    return out.getvalue()


def test_round_trip_identical_probabilities(fitted: Pipeline, blob: bytes) -> None:
    X, _ = make_tickets(4, seed=1)
    loaded = loads(blob)
    assert isinstance(loaded, Pipeline)
    np.testing.assert_array_equal(loaded.predict_proba(X), fitted.predict_proba(X))
    assert Suggester(loaded).suggest(*X[0]) == Suggester(fitted).suggest(*X[0])
    assert loads(bytearray(blob)) is not None


def test_artifact_does_not_store_the_stem_cache(fitted: Pipeline, blob: bytes) -> None:
    assert b"_tools_cache" not in zipfile.ZipFile(io.BytesIO(blob)).read("schema.json")


def test_untrusted_class_is_refused() -> None:
    pipe = build_pipeline().fit(*make_tickets())
    evil = Pipeline([("sneaky", Sneaky()), *pipe.steps])
    with pytest.raises(UntrustedArtifactError, match="Sneaky"):
        loads(dumps(evil))


def test_patched_schema_is_refused(blob: bytes) -> None:
    # A tampered artifact pointing a node at a dangerous callable.
    patched = _rewrite_schema(blob, '"triage.ml.text"', '"os"')
    patched = _rewrite_schema(patched, '"SubjectBodyJoiner"', '"system"')
    with pytest.raises(UntrustedArtifactError, match=r"os\.system"):
        loads(patched)


@pytest.mark.parametrize("garbage", [b"", b"not a zip at all", b"PK\x03\x04" + b"\x00" * 40])
def test_garbage_bytes_are_refused(garbage: bytes) -> None:
    with pytest.raises(CorruptArtifactError):
        loads(garbage)


def test_truncated_artifact_is_refused(blob: bytes) -> None:
    with pytest.raises(UntrustedArtifactError):
        loads(blob[: len(blob) // 2])
    with pytest.raises(ValueError):  # UntrustedArtifactError is a ValueError
        loads(blob[:-10])


def test_not_bytes_is_refused() -> None:
    with pytest.raises(CorruptArtifactError):
        loads("a str")


def test_trusted_types_are_explicit_names() -> None:
    assert all(isinstance(t, str) and "." in t for t in TRUSTED_TYPES)
    assert "triage.ml.text.TextNormalizer" in TRUSTED_TYPES
