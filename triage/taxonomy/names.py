"""Near-duplicate category names ("Fees & Charges" beside "Fees and charges"): two
categories agents cannot tell apart split one kind of ticket between them, and the
model learns neither. The taxonomy page warns with the similar names and asks for a
confirmation; an exact duplicate (any case) is refused by the services."""

from __future__ import annotations

import re
from difflib import SequenceMatcher

from triage.models import Category

# Words that do not tell two names apart.
_FILLER = {"and", "or", "the", "a", "an", "of", "for", "to", "my", "with"}
_WORD = re.compile(r"[^\W_]+")
# Names whose normalised forms are at least this alike are "similar" (difflib's ratio:
# "card delivery" and "card deliveries" are, "card delivery" and "card declined" are not).
SIMILARITY = 0.85


def name_key(name: str) -> str:
    """A name as compared: lower case, "&" and "+" as "and", filler words and
    punctuation dropped, plurals as singulars."""
    words = _WORD.findall(name.lower().replace("&", " and ").replace("+", " and "))
    kept = []
    for word in words:
        if word in _FILLER:
            continue
        if len(word) > 4 and word.endswith("ies"):
            word = word[:-3] + "y"
        elif len(word) > 3 and word.endswith("s") and not word.endswith("ss"):
            word = word[:-1]
        kept.append(word)
    return " ".join(kept)


def similar_names(name: str, exclude: int | None = None) -> list[str]:
    """Existing categories' names (active first) that read like `name`, exact
    duplicates aside (those are refused)."""
    key = name_key(name)
    if not key:
        return []
    others = Category.objects.exclude(pk=exclude) if exclude else Category.objects.all()
    found = []
    for other, active in others.order_by("-is_active", "name").values_list("name", "is_active"):
        if other.casefold() == name.casefold():
            continue
        other_key = name_key(other)
        if other_key == key or SequenceMatcher(None, key, other_key).ratio() >= SIMILARITY:
            found.append(other if active else f"{other} (retired)")
    return found
