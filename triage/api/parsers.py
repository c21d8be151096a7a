"""The API's JSON parser: DRF's, plus refusals for JSON that parses but is not valid data.

* A lone surrogate ("\\ud800") is valid JSON syntax but not valid Unicode. DRF's
  CharField refuses it, but a ChoiceField or a slug lookup echoes it back in its error
  message (or sends it to the database), and encoding that fails with a 500. Refused
  here for every field, naming the top-level field that holds it.
* Nesting deep enough to exhaust Python's recursion limit raises RecursionError,
  which DRF does not treat as a parse error.
"""

from __future__ import annotations

from typing import Any

from rest_framework import exceptions, parsers

SURROGATE_MESSAGE = "Not valid Unicode: the text holds a lone surrogate (\\ud800-\\udfff)."


def _has_surrogate(value: Any) -> bool:
    """True if any string in the parsed JSON value (keys included) holds a lone surrogate."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                return True
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False


class StrictJSONParser(parsers.JSONParser):
    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        try:
            data = super().parse(stream, media_type, parser_context)
        except RecursionError as exc:
            raise exceptions.ParseError("JSON parse error - nested too deeply") from exc
        if isinstance(data, dict):
            bad = {
                str(key).encode("utf-8", "backslashreplace").decode(): [SURROGATE_MESSAGE]
                for key, value in data.items()
                if _has_surrogate(key) or _has_surrogate(value)
            }
            if bad:
                raise exceptions.ValidationError(bad)
        elif _has_surrogate(data):
            raise exceptions.ValidationError({"non_field_errors": [SURROGATE_MESSAGE]})
        return data
