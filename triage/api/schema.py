"""The API's error answers as the OpenAPI schema documents them (triage/api/errors.py sends them)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import DatabaseError
from drf_spectacular.utils import OpenApiResponse, inline_serializer
from rest_framework import serializers

from triage.models import Category, Queue, ticket_subject_limit

_DETAIL = inline_serializer("Error", fields={"detail": serializers.CharField()})

# A 400 names each field that is wrong, with its messages; input that is not valid JSON
# at all is `non_field_errors`, with the parser's own words in `detail`.
_FIELD_ERRORS: dict[str, Any] = {
    "type": "object",
    "properties": {
        "non_field_errors": {"type": "array", "items": {"type": "string"}},
        "detail": {"type": "string"},
    },
    "additionalProperties": {"type": "array", "items": {"type": "string"}},
    "example": {"category": ["Object with slug=nope does not exist."]},
}

_DESCRIPTIONS = {
    400: "Invalid input: the JSON names each field that is wrong.",
    401: "No valid token (`Authorization: Token <key>`).",
    403: "The token's user lacks the role this needs.",
    404: "No such ticket (or page).",
    413: "The request body is over the size limit; refused before it is parsed.",
    429: "Too many requests for this token; `Retry-After` says when to try again.",
    503: "The database is unreachable; `Retry-After` says when to try again.",
}


def errors(*codes: int) -> dict[int, OpenApiResponse]:
    """The error answers an operation can give: `codes`, plus throttling and an outage."""
    return {
        code: OpenApiResponse(_FIELD_ERRORS if code == 400 else _DETAIL, description=_DESCRIPTIONS[code])
        for code in (*codes, 429, 503)
    }


# Text fields refuse a NUL character (PostgreSQL cannot store one).
_NO_NUL = "^[^\\u0000]*$"
_HAS_TEXT = "\\S"


def postprocess(result: dict[str, Any], generator: Any, request: Any, public: bool) -> dict[str, Any]:
    """What the serializers can't say on their own: the categories a request may name
    (read when the schema is served, so it is today's taxonomy), the ticket's text limits
    as stored, and that a ticket needs a subject or a body."""
    schemas = result.get("components", {}).get("schemas", {})
    try:
        slugs = list(Category.objects.order_by("slug").values_list("slug", "is_active"))
    except DatabaseError:  # no tables yet (`check --deploy` before `migrate`): no enums of slugs
        slugs = []
    ticket_in = schemas.get("TicketIn")
    if ticket_in is not None:
        props = ticket_in["properties"]
        for name in ("source", "external_id", "subject", "body", "customer_ref"):
            props[name]["pattern"] = _NO_NUL
        props["source"]["minLength"] = 1
        props["subject"]["maxLength"] = ticket_subject_limit()
        props["body"]["maxLength"] = settings.TICKET_BODY_MAX_CHARS
        ticket_in["anyOf"] = [
            {"required": [name], "properties": {name: {"type": "string", "pattern": _HAS_TEXT}}}
            for name in ("subject", "body")
        ]
    triage_in = schemas.get("TriageIn")
    if triage_in is not None:
        if slugs:
            triage_in["properties"]["category"]["enum"] = [slug for slug, active in slugs if active]
        triage_in["properties"]["category"]["description"] = "The slug of an active category."
    bulk_in, like_in = schemas.get("BulkTriageIn"), schemas.get("BulkLikeIn")
    if bulk_in is not None:
        if slugs:
            bulk_in["properties"]["category"]["enum"] = [slug for slug, active in slugs if active]
        bulk_in["properties"]["category"]["description"] = "The slug of an active category."
        bulk_in["oneOf"] = [{"required": ["tickets"]}, {"required": ["like"]}]  # one of the two, not both
    if like_in is not None:
        if slugs:
            like_in["properties"]["suggested"]["enum"] = [slug for slug, _ in slugs]
        like_in["properties"]["queue"]["enum"] = ["", *_queue_slugs()]
        like_in["properties"]["q"]["pattern"] = _NO_NUL
    for path in result.get("paths", {}).values():
        for operation in path.values():
            body = operation.get("requestBody")
            if body is not None:
                body["required"] = True  # every field of a ticket is optional, but not all at once
            for parameter in operation.get("parameters", []):
                if parameter["in"] == "query" and parameter["name"] == "category" and slugs:
                    parameter["schema"]["enum"] = [slug for slug, _ in slugs]
    return result


def _queue_slugs() -> list[str]:
    try:
        return list(Queue.objects.order_by("slug").values_list("slug", flat=True))
    except DatabaseError:
        return []
