"""The alternatives waiting tickets offer, kept to categories an agent can pick."""

from __future__ import annotations

from triage.models import Category, Prediction, Ticket


def replace_in_waiting_alternatives(source: Category, target: Category | None) -> int:
    """Untriaged tickets stop offering `source` as an alternative; returns how many changed.

    With a merge `target`, the alternative becomes the target (its confidence added
    to the target's if that was offered too, dropped if the target is the suggestion
    itself); without one (a retire) it is dropped. An agent can't pick a retired
    category, so offering it only led to a refusal. Decided tickets keep theirs.
    """
    changed = []
    waiting = Prediction.objects.filter(is_live=True, ticket__status=Ticket.Status.NEW).select_related("suggested")
    for prediction in waiting.only("pk", "alternatives", "suggested__slug").iterator(chunk_size=2000):
        alternatives = prediction.alternatives or []
        if not any(a.get("category") == source.slug for a in alternatives):
            continue
        merged: dict[str, float] = {}
        for alt in alternatives:
            slug = alt["category"]
            if slug == source.slug:
                if target is None or target.slug == prediction.suggested.slug:
                    continue
                slug = target.slug
            merged[slug] = round(merged.get(slug, 0.0) + float(alt["confidence"]), 4)
        prediction.alternatives = [
            {"category": slug, "confidence": confidence}
            for slug, confidence in sorted(merged.items(), key=lambda item: -item[1])
        ]
        changed.append(prediction)
    Prediction.objects.bulk_update(changed, ["alternatives"], batch_size=1000)
    return len(changed)
