"""JSON errors for the API: every refusal names what was wrong."""

from __future__ import annotations

from typing import Any

from rest_framework import exceptions
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, exceptions.ParseError):
        # Malformed JSON has no field to name: the error is the whole request.
        response.data = {
            "non_field_errors": ["Malformed JSON: the request body could not be parsed."],
            "detail": str(exc.detail),
        }
    return response
