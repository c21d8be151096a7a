"""Nearest tickets by text: TF-IDF cosine over a bounded pool of candidates (plain
scikit-learn; the pool is chosen by the selector)."""

from __future__ import annotations

from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.metrics.pairwise import linear_kernel


def nearest(query: str, candidates: list[str], *, k: int, min_score: float = 0.05) -> list[tuple[int, float]]:
    """Indexes of the `k` candidates most like `query`, with their cosine scores."""
    if not candidates or not query.strip():
        return []
    vectorizer = TfidfVectorizer(sublinear_tf=True, ngram_range=(1, 2), min_df=1, stop_words="english")
    try:
        matrix = vectorizer.fit_transform([query, *candidates])
    except ValueError:  # nothing but stop words
        return []
    scores = linear_kernel(matrix[0:1], matrix[1:]).ravel()
    order = scores.argsort()[::-1][:k]
    return [(int(i), float(scores[i])) for i in order if scores[i] >= min_score]
