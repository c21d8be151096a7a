"""The model round trip: train from confirmed tickets, save signed, load, refuse tampering."""

from __future__ import annotations

import logging
import threading
from datetime import timedelta
from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command
from django.db import connection
from django.utils import timezone

from tests.helpers import demo_history_rows
from triage import services, serving
from triage.learning.registry import ArtifactRefusedError, model_version_load
from triage.learning.selectors import training_data
from triage.learning.training import train_model
from triage.ml.training import NotEnoughDataError
from triage.models import Category, ModelVersion, Ticket


def tamper(version: ModelVersion) -> None:
    path = version.artifact.path
    with open(path, "r+b") as fh:
        data = bytearray(fh.read())
        data[len(data) // 2] ^= 0xFF
        fh.seek(0)
        fh.write(data)


def test_training_scores_the_most_recent_tickets_and_registers_a_signed_version(history: list[Ticket]) -> None:
    outcome = train_model(holdout_share=0.2)
    version = outcome.version
    assert outcome.activated and version.status == "active"
    assert version.training_rows == 300  # the unconfirmed ticket is not training data
    assert version.holdout_rows == 60
    assert version.data_from == history[0].received_at and version.data_to == history[-1].received_at
    assert len(version.sha256) == 64 and len(version.hmac) == 64 and len(version.data_hash) == 64
    assert set(version.classes) == {t.category.slug for t in history}
    holdout = version.metrics["holdout"]
    assert holdout["rows"] == 60 and 0.7 < holdout["accuracy"] <= 1.0 and 0 < holdout["macro_f1"] <= 1.0
    assert version.environment["scikit-learn"] and version.train_seconds > 0


def test_a_saved_model_loads_back_and_predicts_the_same(history: Any) -> None:
    version = train_model().version
    pipeline = model_version_load(version)
    pairs = [("Card stolen", "my wallet was stolen with my card")]
    assert list(pipeline.predict(pairs)) == ["lost-or-stolen-card"]
    serving.reset()
    model = serving.active_model()
    assert model is not None and model.version == version.version
    suggestion, category, _cached = model.suggest(*pairs[0])
    assert category.slug == "lost-or-stolen-card"
    assert suggestion.confidence == pytest.approx(pipeline.predict_proba(pairs).max(), abs=1e-6)


def test_a_tampered_artifact_is_refused(history: Any) -> None:
    version = train_model().version
    tamper(version)
    with pytest.raises(ArtifactRefusedError, match="SHA-256 mismatch"):
        model_version_load(version)


def test_an_artifact_signed_with_another_key_is_refused(history: Any, settings: Any) -> None:
    version = train_model().version
    settings.MODEL_SIGNING_KEY = "another-key-that-did-not-sign-this-artifact"
    with pytest.raises(ArtifactRefusedError, match="HMAC mismatch"):
        model_version_load(version)


def test_a_missing_artifact_is_refused(history: Any) -> None:
    version = train_model().version
    version.artifact.storage.delete(version.artifact.name)
    with pytest.raises(ArtifactRefusedError, match="unreadable"):
        model_version_load(version)


def test_serving_keeps_the_previous_model_when_the_new_one_is_refused(
    history: Any, caplog: pytest.LogCaptureFixture
) -> None:
    first = train_model().version
    assert serving.active_model().version == first.version
    second = train_model().version
    tamper(second)
    with caplog.at_level(logging.ERROR, logger="triage.serving"):
        model = serving.active_model()
    assert model is not None and model.version == first.version
    assert any(f"refusing model v{second.version}" in r.getMessage() for r in caplog.records)
    result = services.ticket_ingest(subject="Card stolen", body="my card was stolen")
    assert result.prediction is not None and result.prediction.model_version_id == first.pk


@pytest.mark.django_db(transaction=True)
def test_a_request_during_the_first_model_load_waits_for_it_instead_of_going_without(
    live_model: ModelVersion, monkeypatch: Any, settings: Any
) -> None:
    settings.MODEL_REFRESH_SECONDS = 5.0  # as in production (the tests' default re-checks on every call)
    serving.reset()  # a process's first seconds: nothing loaded yet
    real_load = serving.model_version_load
    loading, loaded = threading.Event(), threading.Event()

    def held_load(row: ModelVersion) -> Any:
        loading.set()
        assert loaded.wait(10)
        return real_load(row)

    class WatchedLock:
        """The holder's lock, telling when a thread has to wait for it."""

        def __init__(self) -> None:
            self.lock, self.contended = threading.Lock(), threading.Event()

        def __enter__(self) -> None:
            if not self.lock.acquire(blocking=False):
                self.contended.set()
                self.lock.acquire()

        def __exit__(self, *exc: object) -> None:
            self.lock.release()

    watched = WatchedLock()
    monkeypatch.setattr(serving._holder, "lock", watched)
    monkeypatch.setattr(serving, "model_version_load", held_load)
    answers: list[Any] = []

    def ticket_arrives() -> None:
        answers.append(serving.active_model())
        connection.close()

    first, second = threading.Thread(target=ticket_arrives), threading.Thread(target=ticket_arrives)
    first.start()
    assert loading.wait(10)  # the first request is loading the model...
    second.start()
    assert watched.contended.wait(10)  # ...when the second one arrives and waits for it
    loaded.set()
    first.join(15)
    second.join(15)
    assert [a.version if a else None for a in answers] == [live_model.version, live_model.version]


def test_a_retired_category_is_never_suggested(history: Any, categories: dict[str, Category]) -> None:
    train_model()
    categories["lost-or-stolen-card"].is_active = False
    categories["lost-or-stolen-card"].save(update_fields=["is_active"])
    result = services.ticket_ingest(subject="Card stolen", body="my wallet was stolen with my card, block it")
    assert result.prediction is not None
    assert result.prediction.suggested.slug != "lost-or-stolen-card"
    assert all(a["category"] != result.prediction.suggested.slug for a in result.prediction.alternatives)


def test_training_learns_only_human_labels_not_the_models_own_auto_triage(
    history: list[Ticket], categories: dict[str, Category]
) -> None:
    auto = Ticket.objects.create(
        subject="auto",
        body="triaged by the model itself",
        received_at=timezone.now(),
        category=categories["lost-or-stolen-card"],
        label_source=Ticket.LabelSource.AUTO,
    )
    ids = training_data().ids
    assert auto.pk not in ids
    assert set(ids) == {t.pk for t in history}


def test_a_history_without_times_is_held_out_at_random_not_by_file_order(categories: Any) -> None:
    # A file sorted by label, imported without timestamps: every row has the same time.
    rows = demo_history_rows(categories, 300, seed=5, prefix="s", step=timedelta(0))
    services.tickets_import(
        rows=sorted(rows, key=lambda row: row.category.slug if row.category else ""), source="sorted"
    )
    holdout = train_model(holdout_share=0.2).metrics
    # By file order the holdout would be the last two categories, unseen in training (accuracy ~0).
    assert holdout["accuracy"] > 0.7
    assert len(holdout["per_category"]) >= 8


def test_training_needs_confirmed_tickets_in_two_categories(categories: Any) -> None:
    with pytest.raises(NotEnoughDataError):
        train_model()


def test_the_gate_keeps_a_worse_model_out(history: Any) -> None:
    live = train_model().version
    # A crippled candidate: character features only of one letter, almost no signal.
    outcome = train_model(params={"word_weight": 0.0, "char_ngram": (1, 1), "C": 1e-4}, activate="gate")
    assert not outcome.activated and outcome.version.status == "rejected"
    assert "below the live model" in outcome.reason
    live.refresh_from_db()
    assert live.status == "active"


def test_the_train_command_prints_accuracy_and_macro_f1(history: Any) -> None:
    out = StringIO()
    call_command("train", stdout=out)
    text = out.getvalue()
    assert "accuracy" in text and "macro-F1" in text and "v1 active" in text
    assert ModelVersion.objects.get().status == "active"
