"""Schemathesis hooks for tests/test_api_schema.py (loaded through SCHEMATHESIS_HOOKS).

One rule of the API depends on the clock, which a schema cannot state: a ticket's
`received_at` lies between 2000 and five minutes from now. A schema-valid ticket that
schemathesis draws with a date outside that window gets a date inside it; every other
value it draws is sent as drawn.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import schemathesis

IN_WINDOW = "2020-06-01T12:00:00Z"


@schemathesis.hook
def map_case(context: Any, case: Any) -> Any:
    body = case.body
    positive = case.meta is not None and case.meta.generation.mode.is_positive
    if positive and case.operation.label == "POST /api/tickets/" and isinstance(body, dict):
        when = body.get("received_at")
        if isinstance(when, str) and not _in_window(when):
            case.body = {**body, "received_at": IN_WINDOW}
    return case


def _in_window(value: str) -> bool:
    try:
        when = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return True  # not a date: the server says so, as the schema does
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return datetime(2000, 1, 2, tzinfo=UTC) <= when <= datetime.now(UTC)
