"""Settings of the triage itself that admins change on the taxonomy page.

The target precision decides when a suggestion "needs a human": each new model picks
its confidence threshold on its held-out tickets so that the suggestions it answers
are right at least this share of the time (`triage.ml.abstention`). A higher target
sends more tickets to agents and lets fewer tickets from outside the taxonomy
through (docs/model.md, "Abstention thresholds").
"""

from __future__ import annotations

import math
from typing import Any

from django.conf import settings
from django.db import transaction

from triage.learning.selectors import target_precision
from triage.learning.triggers import taxonomy_changed
from triage.models import TaxonomyChange, TriagePolicy
from triage.taxonomy.changes import TaxonomyError, record

PRECISION_MIN, PRECISION_MAX = 0.5, 0.999


def parse_percent(raw: Any) -> float | None:
    """A percentage as typed ("97", "97.5", "97 %"); empty: back to the default."""
    text = str(raw if raw is not None else "").strip().rstrip("%").strip()
    if not text:
        return None
    try:
        value = float(text.replace(",", "."))
    except ValueError:
        raise TaxonomyError("target_precision", "Write the target precision as a percentage, e.g. 95.") from None
    if not math.isfinite(value) or not PRECISION_MIN * 100 <= value <= PRECISION_MAX * 100:
        raise TaxonomyError(
            "target_precision",
            f"The target precision is between {PRECISION_MIN:.0%} and {PRECISION_MAX:.1%}.",
        )
    return round(value / 100, 4)


@transaction.atomic
def target_precision_set(*, actor: Any, value: Any) -> TaxonomyChange | None:
    """Set the target precision (a percentage; empty for the default) and queue a
    retrain, since only a new model's thresholds follow it. None when nothing changed."""
    chosen = parse_percent(value)
    policy, _ = TriagePolicy.objects.select_for_update().get_or_create(pk=1)
    before = target_precision()
    after = float(settings.TARGET_PRECISION) if chosen is None else chosen
    if after == before:
        return None  # the precision in effect stays: nothing to audit or retrain for
    policy.target_precision = chosen
    policy.save(update_fields=["target_precision", "updated_at"])
    change = record(
        action=TaxonomyChange.Action.PRECISION,
        actor=actor,
        summary=f"Target precision: {before:.1%} → {after:.1%}" + ("" if chosen is not None else " (the default)"),
        before={"target_precision": before},
        after={"target_precision": after},
    )
    taxonomy_changed(change=change, reason=f"target precision {after:.1%}: new thresholds")
    return change
