"""Where a split category's tickets likely belong: the live model cannot know categories
that did not exist when it was trained, so each ticket is compared with each new
category's profile (its name and description, plus the tickets confirmed into it so
far). Used by the relabel list (`split.py`) and by waiting tickets (`waiting.py`)."""

from __future__ import annotations

from collections import defaultdict

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.preprocessing import normalize

from triage.models import Category, Ticket

# Confirmed tickets read per split to learn the new categories' wording.
SEED_TICKETS = 2000


def ticket_text(subject: str, body: str) -> str:
    return f"{subject}\n{body}"


def target_seeds(targets: list[Category]) -> dict[int, list[str]]:
    """The texts of tickets already confirmed into each target."""
    seeds: dict[int, list[str]] = defaultdict(list)
    rows = Ticket.objects.filter(category__in=targets).values_list("subject", "body", "category")[:SEED_TICKETS]
    for subject, body, category in rows:
        seeds[category].append(ticket_text(subject, body))
    return seeds


def guess_ranked(
    texts: list[str], targets: list[Category], seeds: dict[int, list[str]]
) -> list[list[tuple[int, float]]]:
    """For each text, every target's id with a confidence, likeliest first.

    TF-IDF cosine to each target's profile centroid; confidence is a softmax over targets.
    """
    if not texts or not targets:
        return [[] for _ in texts]
    profiles = [" ".join([t.name, t.name, t.description, *seeds.get(t.pk, [])]) for t in targets]
    vectorizer = TfidfVectorizer(sublinear_tf=True, ngram_range=(1, 2), min_df=1, stop_words="english")
    matrix = vectorizer.fit_transform(texts + profiles)
    docs, centroids = matrix[: len(texts)], normalize(matrix[len(texts) :])
    scores = (docs @ centroids.T).toarray()
    exp = np.exp(scores * 10.0)
    probs = exp / exp.sum(axis=1, keepdims=True)
    ranked = []
    for row in probs:
        order = np.argsort(-row, kind="stable")
        ranked.append([(targets[int(i)].pk, float(row[i])) for i in order])
    return ranked


def guess(texts: list[str], targets: list[Category], seeds: dict[int, list[str]]) -> list[tuple[int, float]]:
    """For each text, the likeliest target and its confidence."""
    return [ranks[0] for ranks in guess_ranked(texts, targets, seeds)] if targets else []
