"""One thread hop for Django's middleware chain under ASGI, instead of a dozen.

Django's middleware classes can run in either mode, and under ASGI they run in
async mode: each `process_request` and `process_response` is then its own hop
from the event loop to a worker thread and back, about a dozen per request before
the (synchronous) view even starts. Django builds the chain from the innermost
middleware outwards and keeps it synchronous once a middleware can only be
synchronous, so this pass-through, last in MIDDLEWARE, makes every Django
middleware above it (down to ServeStatic, which stays async) run in one thread:
17 hops per request become 8, and an authenticated GET /api/categories/ costs
about a fifth less CPU (12.6 -> 10.2 ms in-process, `AsyncClient`).
"""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse


class SynchronousChain:
    async_capable = False
    sync_capable = True

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)
