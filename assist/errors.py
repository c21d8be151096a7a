"""The project's 404 and 500 answers: JSON under /api/, and a 503 for a database outage."""

from __future__ import annotations

import sys

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.defaults import page_not_found
from django.views.defaults import server_error as django_server_error

from assist.middleware import DATABASE_OUTAGE_ERRORS, database_unavailable


def not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    """Django's 404 page, or JSON under /api/ (a URL that matches no route there)."""
    if request.path.startswith("/api/"):
        return JsonResponse({"detail": "Not found."}, status=404)
    return page_not_found(request, exception)


def server_error(request: HttpRequest) -> HttpResponse:
    """The last resort: a database outage is a 503 wherever it was raised (a middleware's
    session save, say), and anything else under /api/ is JSON, not Django's HTML page."""
    exception = sys.exc_info()[1]
    if isinstance(exception, DATABASE_OUTAGE_ERRORS):
        return database_unavailable(request, exception)
    if request.path.startswith("/api/"):
        return JsonResponse({"detail": "Server error."}, status=500)
    return django_server_error(request)
