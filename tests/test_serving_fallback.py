"""A live version that cannot serve is refused once: the previous model (or, in a process
that starts with none, the newest earlier live one that loads) serves, loudly, and
/healthz says the process is degraded."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from django.test import Client
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline

from tests.conftest import client_for
from triage import demo, serving
from triage.learning.promotion import model_version_activate
from triage.learning.registry import model_version_create
from triage.models import Category, ModelVersion


def _register(pipeline: Any, classes: list[str]) -> ModelVersion:
    version = model_version_create(
        pipeline=pipeline, classes=classes, params={}, metrics={}, lineage={"training_rows": 1}
    )
    return model_version_activate(version=version)


def _tamper(version: ModelVersion) -> None:
    with open(version.artifact.path, "r+b") as fh:
        data = bytearray(fh.read())
        data[len(data) // 2] ^= 0xFF
        fh.seek(0)
        fh.write(data)


@pytest.fixture
def foreign_pipeline() -> Pipeline:
    """A plain TF-IDF + logistic regression: trusted sklearn types, signed with our key,
    but not a pipeline Assist built (it takes one string, not a subject and a body)."""
    examples = demo.generate(60, seed=5)
    return Pipeline([("tfidf", TfidfVectorizer()), ("clf", LogisticRegression(max_iter=200))]).fit(
        [f"{t.subject} {t.body}" for t in examples], [t.category for t in examples]
    )


def test_a_restarted_process_serves_the_newest_earlier_version_that_loads_and_says_it_is_degraded(
    live_model: ModelVersion, trained_pipeline: Any, caplog: pytest.LogCaptureFixture
) -> None:
    second = _register(trained_pipeline, list(live_model.classes))
    third = _register(trained_pipeline, list(live_model.classes))
    _tamper(third)
    _tamper(second)
    serving.reset()  # a restart: nothing loaded yet
    with caplog.at_level(logging.ERROR, logger="triage.serving"):
        model = serving.active_model()
    assert model is not None and model.version == live_model.version  # v3 and v2 refused, v1 serves
    assert any("FALLBACK" in r.getMessage() and f"v{live_model.version}" in r.getMessage() for r in caplog.records)
    health = Client().get("/healthz")
    body = health.json()
    assert health.status_code == 200 and body["ok"] is False and body["status"] == "degraded"
    assert body["model_version"] == live_model.version
    assert any(f"live model v{third.version} refused" in p for p in body["problems"])


def test_a_foreign_pipeline_signed_with_the_key_is_refused_once_and_the_previous_model_serves(
    live_model: ModelVersion, foreign_pipeline: Pipeline, integration: Any, caplog: pytest.LogCaptureFixture
) -> None:
    assert serving.active_model().version == live_model.version
    foreign = _register(foreign_pipeline, [str(c) for c in foreign_pipeline.classes_])
    api = client_for(integration)
    with caplog.at_level(logging.ERROR, logger="triage.serving"):
        for i in range(5):
            response = api.post("/api/tickets/", {"subject": "Card stolen", "body": f"stolen {i}"}, format="json")
            assert response.status_code == 201
            assert response.json()["suggestion"]["model_version"] == live_model.version
            assert Client().get("/healthz").status_code == 200
    refusals = [r for r in caplog.records if f"refusing model v{foreign.version}" in r.getMessage()]
    assert len(refusals) == 1, [r.getMessage() for r in caplog.records]
    body = Client().get("/healthz").json()
    assert body["status"] == "degraded" and body["model_version"] == live_model.version


def test_a_live_version_that_serves_again_clears_the_degraded_health(
    live_model: ModelVersion, foreign_pipeline: Pipeline, trained_pipeline: Any, categories: dict[str, Category]
) -> None:
    serving.active_model()
    _register(foreign_pipeline, [str(c) for c in foreign_pipeline.classes_])
    assert Client().get("/healthz").json()["status"] == "degraded"
    fixed = _register(trained_pipeline, list(live_model.classes))
    body = Client().get("/healthz").json()
    assert body == {
        "ok": True,
        "status": "ok",
        "database": "ok",
        "redis": body["redis"],
        "model_version": fixed.version,
        "problems": [],
    }
    assert body["redis"] in {"ok", "not used"}


def test_loading_a_model_moves_it_out_of_the_garbage_collectors_sight(live_model: Any) -> None:
    import gc

    gc.unfreeze()
    serving.reset()
    assert gc.get_freeze_count() == 0
    assert serving.active_model() is not None
    assert gc.get_freeze_count() > 10_000  # the model's vocabularies, among the rest
    gc.unfreeze()
