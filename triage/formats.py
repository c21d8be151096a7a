"""How pages write a moment or a day: one format everywhere ("7 Dec 2026, 18:20",
"7 Dec 2026"). The template filter `when` (triage/templatetags/formats.py) and the
report tables use it; static/triage/format.js writes the same in the viewer's time zone."""

from __future__ import annotations

from datetime import date, datetime

from django.utils import dateformat, timezone

# As format.js writes them (Intl.DateTimeFormat, en-GB, 24-hour clock).
FORMATS = {"datetime": "j M Y, H:i", "date": "j M Y"}


def when_text(value: datetime | date, style: str = "datetime") -> str:
    """The text shown before format.js moves a moment to the viewer's time zone."""
    if isinstance(value, datetime) and timezone.is_aware(value):
        value = timezone.localtime(value)
    elif not isinstance(value, datetime):
        style = "date"  # a calendar day has no time
    return dateformat.format(value, FORMATS.get(style, FORMATS["datetime"]))
