from __future__ import annotations

import re
from typing import Any

from django import template
from django.utils.html import conditional_escape, escape, format_html
from django.utils.safestring import mark_safe

register = template.Library()


@register.filter
def lookup(mapping: dict[str, Any] | None, key: str) -> Any:
    """`{{ names|lookup:slug }}`: a category's display name, the slug if unknown."""
    if not mapping:
        return key
    return mapping.get(key, key)


@register.filter
def percent(value: float | None) -> str:
    if value is None:
        return ""
    if value < 0.01:
        return "<1%"
    if value >= 0.995:
        return ">99%"  # a model is never 100 % sure; don't display it as such
    return f"{value * 100:.0f}%"


@register.filter(needs_autoescape=True)
def highlight(text: str, prediction: Any, autoescape: bool = True) -> str:
    """The text, escaped, with the words that weighed for the suggestion in <mark>
    (none when the model abstained: its reasons would mislead)."""
    reasons = [] if prediction is None or prediction.needs_human else prediction.reasons
    terms = sorted({r["term"] for r in reasons if r.get("term")}, key=len, reverse=True)
    if not terms:
        return conditional_escape(text)
    pattern = re.compile("|".join(rf"(?<!\w){re.escape(t)}(?!\w)" for t in terms), re.IGNORECASE)
    parts, last = [], 0
    for match in pattern.finditer(text):
        parts.append(escape(text[last : match.start()]))
        parts.append(format_html("<mark>{}</mark>", match.group()))
        last = match.end()
    parts.append(escape(text[last:]))
    return mark_safe("".join(parts))  # noqa: S308 - every piece was escaped above
