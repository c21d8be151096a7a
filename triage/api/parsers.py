"""The API's JSON parser: DRF's, plus refusals for JSON that parses but is not valid data.

* A lone surrogate ("\\ud800") is valid JSON syntax but not valid Unicode. DRF's
  CharField refuses it, but a ChoiceField or a slug lookup echoes it back in its error
  message (or sends it to the database), and encoding that fails with a 500. Refused
  here for every field, naming the top-level field that holds it.
* Nesting deep enough to exhaust Python's recursion limit raises RecursionError,
  which DRF does not treat as a parse error.
* JSON is UTF-8 (RFC 8259), whatever `charset=` the Content-Type names. DRF decodes
  with that charset, and Python's codec registry includes transforms such as `zlib`
  and `rot13`: a 1 MB body sent as `charset=zlib` inflated to 1 GB in the worker.
  Bytes that aren't UTF-8 are a parse error.
* The body is read up to `DATA_UPLOAD_MAX_MEMORY_SIZE` (Django's own limit, which
  DRF's stream bypasses); a longer one is refused with 413 before it is parsed.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from rest_framework import exceptions, parsers, status
from rest_framework.utils import json

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


class RequestTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_code = "request_too_large"


def read_body(stream: Any) -> str:
    """The request body as text: at most DATA_UPLOAD_MAX_MEMORY_SIZE bytes of UTF-8."""
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    if stream is None:
        return ""
    raw = stream.read() if limit is None else stream.read(limit + 1)
    if limit is not None and len(raw) > limit:
        raise RequestTooLarge(f"The request body is over {limit:,} bytes.")
    try:
        return bytes(raw).decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        where = f"{exc.reason} at byte {exc.start}"
        raise exceptions.ParseError(f"JSON parse error - the body is not UTF-8 ({where})") from exc


class StrictJSONParser(parsers.JSONParser):
    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        text = read_body(stream)
        try:
            data = json.loads(text, parse_constant=json.strict_constant)
        except RecursionError as exc:
            raise exceptions.ParseError("JSON parse error - nested too deeply") from exc
        except ValueError as exc:
            raise exceptions.ParseError(f"JSON parse error - {exc}") from exc
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
