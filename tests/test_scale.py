"""The large-data path: streamed training, hashed features, incremental SGD, serving.

The row threshold is lowered so that a few hundred demo tickets take the path
that 200,000+ take in production; chunks are small so that one straddles the
holdout cut. Timings and memory at 10k-1M tickets are in bench/train.py.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import pytest
import skops.io as sio
from sklearn.base import clone
from sklearn.exceptions import NotFittedError

from triage import demo, services, serving
from triage.learning.registry import model_version_load
from triage.learning.training import train_model
from triage.ml import artifacts
from triage.ml.streaming import HashedTicketFeatures, build_streaming_pipeline, is_streaming
from triage.ml.streaming_suggest import StreamingSuggester, suggester_for
from triage.ml.suggest import Suggester


@pytest.fixture
def large(settings: Any) -> None:
    settings.LARGE_TRAINING_ROWS = 100
    settings.LARGE_TRAINING_CHUNK_ROWS = 64


@pytest.fixture(scope="module")
def streaming_pipeline() -> Any:
    examples = demo.generate(600, seed=5)
    pairs = [(t.subject, t.body) for t in examples]
    return build_streaming_pipeline({"streaming_n_epochs": 5}).fit(pairs, [t.category for t in examples])


def test_above_the_threshold_training_streams_into_the_hashed_model(history: Any, large: None) -> None:
    outcome = train_model()
    version = outcome.version
    assert version.training_rows == 300 and version.holdout_rows == 60
    assert outcome.metrics["rows"] == 60
    # Far above chance (1/12), on the 60 most recent tickets.
    assert outcome.metrics["accuracy"] > 0.5
    assert {"macro_f1", "ece", "abstention", "per_category"} <= set(outcome.metrics)
    assert is_streaming(model_version_load(version))
    assert version.params["features__n_features"] == 2**17


def test_below_the_threshold_the_tfidf_pipeline_is_trained(history: Any) -> None:
    version = train_model().version
    assert isinstance(suggester_for(model_version_load(version)), Suggester)


def test_the_streamed_model_round_trips_the_signed_artifact_and_serves_words_of_the_ticket(
    history: Any, large: None
) -> None:
    train_model()
    subject, body = "Card never came", "I ordered a new card three weeks ago and it still has not arrived"
    loaded = serving.active_model()
    assert loaded is not None and isinstance(loaded.suggester, StreamingSuggester)
    result = loaded.suggest(subject, body)
    assert result is not None
    suggestion = result.suggestion
    words = set(re.findall(r"\w+", f"{subject} {body}".lower()))
    assert suggestion.reasons
    assert all(set(re.findall(r"\w+", reason.lower())) <= words for reason, _ in suggestion.reasons)
    assert suggestion.known_share > 0.5
    ingested = services.ticket_ingest(subject=subject, body=body)
    assert ingested.prediction is not None


def test_a_second_large_training_is_gated_against_the_live_one_on_the_same_holdout(history: Any, large: None) -> None:
    first = train_model().version
    outcome = train_model(activate="gate")
    assert outcome.active_metrics is not None
    assert outcome.active_metrics["version"] == first.version
    assert outcome.active_metrics["rows"] == outcome.metrics["rows"]
    assert "whole holdout" in outcome.active_metrics["basis"]


def test_the_artifact_names_only_the_two_streaming_types_beyond_the_defaults(streaming_pipeline: Any) -> None:
    data = artifacts.dumps(streaming_pipeline)
    assert sorted(sio.get_untrusted_types(data=data)) == [
        "triage.ml.streaming.HashedTicketFeatures",
        "triage.ml.streaming.StreamingLinearClassifier",
    ]
    loaded = artifacts.loads(data)
    pair = ("Fees", "why was I charged a fee for a transfer abroad")
    assert StreamingSuggester(loaded).suggest(*pair) == StreamingSuggester(streaming_pipeline).suggest(*pair)


def test_one_ticket_is_hashed_into_the_same_columns_as_the_batch_transform(streaming_pipeline: Any) -> None:
    suggester = StreamingSuggester(streaming_pipeline)
    pairs = [(t.subject, t.body) for t in demo.generate(40, seed=9)]
    batch = streaming_pipeline.predict_proba(pairs)
    one = np.array([suggester.predict_proba_one(*p) for p in pairs])
    np.testing.assert_allclose(one, batch, atol=1e-5)
    many = suggester.suggest_many(pairs)
    singles = [suggester.suggest(*p) for p in pairs]
    assert [s.label for s in many] == [s.label for s in singles]
    np.testing.assert_allclose([s.known_share for s in many], [s.known_share for s in singles])


def test_words_never_seen_in_training_have_no_known_share(streaming_pipeline: Any) -> None:
    suggester = StreamingSuggester(streaming_pipeline)
    assert suggester.suggest("", "qzxv blorptak wuffle").known_share == 0.0
    assert suggester.suggest("Lost card", "I lost my card").known_share == 1.0


def test_the_estimators_follow_scikit_learn_conventions(streaming_pipeline: Any) -> None:
    fresh = clone(streaming_pipeline)
    assert fresh.get_params()["features__n_features"] == 2**17
    assert not hasattr(fresh.steps[1][1], "classes_")
    features = HashedTicketFeatures()
    assert features.fit([("a", "b")]) is features
    with pytest.raises(NotFittedError):
        StreamingSuggester(clone(streaming_pipeline))
