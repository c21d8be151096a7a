from __future__ import annotations

from typing import Any

from django import template

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
