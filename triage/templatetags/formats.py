"""The one way pages show a moment: `{{ value|when }}` (date and time) or
`{{ value|when:"date" }}` (the day only).

It renders `<time datetime="…" data-when="…">7 Dec 2026, 18:20</time>` in the server's
time zone; static/triage/format.js then rewrites the text in the viewer's time zone, in
the same format. Pages that build rows in JavaScript call the same helper
(`AssistFormat.when(date)`), so a date reads the same everywhere.
"""

from __future__ import annotations

from datetime import date, datetime

from django import template
from django.utils.html import format_html
from django.utils.safestring import SafeString

from triage.formats import FORMATS, when_text

register = template.Library()


@register.filter
def when(value: datetime | date | None, style: str = "datetime") -> SafeString | str:
    if value is None or value == "":
        return "\u2013"  # an en dash: never happened
    style = style if style in FORMATS else "datetime"
    if not isinstance(value, datetime):  # a calendar day has no time zone to move
        return format_html('<time datetime="{}">{}</time>', value.isoformat(), when_text(value, "date"))
    return format_html(
        '<time datetime="{}" data-when="{}">{}</time>', value.isoformat(), style, when_text(value, style)
    )
