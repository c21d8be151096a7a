"""One thread hop for Django's middleware chain under ASGI, instead of a dozen.

Django's middleware classes can run in either mode, and under ASGI they run in
async mode: each `process_request` and `process_response` is then its own hop
from the event loop to a worker thread and back, about a dozen per request before
the (synchronous) view even starts. Django builds the chain from the innermost
middleware outwards and keeps it synchronous once a middleware can only be
synchronous, so this pass-through, last in MIDDLEWARE, makes every Django
middleware above it (down to ServeStatic, which stays async) run in one thread:
17 hops per request become 8, which every request pays for (`bench/ingest.py`
measures both endpoints; docs/ingest.md).
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from channels.security.websocket import WebsocketDenier
from django.conf import settings
from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest, JsonResponse
from django.http.request import validate_host

logger = logging.getLogger(__name__)


class SynchronousChain:
    async_capable = False
    sync_capable = True

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)


class _Synchronous(SynchronousChain):
    """A middleware of ours: synchronous, so it runs in the same thread as the rest of the chain."""


class RefuseNulInQuery(_Synchronous):
    """A 400 for a URL whose query string holds a NUL character (%00).

    PostgreSQL refuses NUL in any string, so a filter that passed such a value to a
    query failed with a 500 (the queue's ?queue=, the reports' filters, the API's
    ?category=). No parameter of ours can hold one.
    """

    def __call__(self, request: HttpRequest) -> HttpResponse:
        query = request.META.get("QUERY_STRING", "")
        if "%00" in query or "\x00" in query:
            message = "The URL's query string holds a NUL character (%00)."
            if request.path.startswith("/api/"):
                return JsonResponse({"non_field_errors": [message]}, status=400)
            return HttpResponseBadRequest(message, content_type="text/plain; charset=utf-8")
        return self.get_response(request)


class DatabaseOutage(_Synchronous):
    """A 503 with Retry-After, not a 500 and a traceback, while the database is unreachable.

    Every request that needs the database fails during an outage; each one logging its
    traceback buries the one line that matters. The first failure is logged with its
    error, then one line every OUTAGE_LOG_SECONDS counts the requests refused since.
    Connections are made again on the next request, so the service recovers by itself.
    """

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not isinstance(exception, DATABASE_OUTAGE_ERRORS):
            return None
        return database_unavailable(request, exception)


# Unreachable, restarting, or a transaction the database gave up on: all worth a retry.
DATABASE_OUTAGE_ERRORS = (OperationalError, InterfaceError)
OUTAGE_LOG_SECONDS = 30.0
RETRY_AFTER_SECONDS = 5


class _OutageLog:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.logged_at = float("-inf")
        self.refused = 0

    def record(self, exception: BaseException, what: str = "database unavailable") -> None:
        with self.lock:
            self.refused += 1
            now = time.monotonic()
            if now - self.logged_at < OUTAGE_LOG_SECONDS:
                return
            refused, self.refused, self.logged_at = self.refused, 0, now
        first_line = str(exception).strip().splitlines()[0] if str(exception).strip() else type(exception).__name__
        answered = "answered 503" if what == "database unavailable" else "closed with 1013"
        logger.error("%s (%s: %s): %d request(s) %s", what, type(exception).__name__, first_line, refused, answered)


_outage_log = _OutageLog()


def database_unavailable(request: HttpRequest, exception: Exception) -> HttpResponse:
    """The 503 for a request the database could not serve: JSON for the API and /healthz."""
    _outage_log.record(exception)
    message = "The database is unavailable; try again in a few seconds."
    response: HttpResponse
    if request.path.startswith("/api/") or request.path == "/healthz":
        response = JsonResponse({"detail": message}, status=503)
    else:
        response = HttpResponse(message, status=503, content_type="text/plain; charset=utf-8")
    response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response


# RFC 6455 "try again later": the server cannot serve the socket now (Redis or the
# database is down); the page reconnects with its back-off.
CLOSE_TRY_AGAIN_LATER = 1013


class WebsocketOutageGuard:
    """ASGI middleware for websockets: a socket the server fails to set up (the channel
    layer's Redis down, the session store unreachable) is accepted and closed with 1013,
    instead of the handshake's HTTP 500 and a traceback per reconnect."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self._log = _OutageLog()

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "websocket":
            await self.app(scope, receive, send)
            return
        state = {"accepted": False, "closed": False}

        async def tracked(message: dict[str, Any]) -> None:
            if message["type"] == "websocket.accept":
                state["accepted"] = True
            elif message["type"] == "websocket.close":
                state["closed"] = True
            await send(message)

        try:
            await self.app(scope, receive, tracked)
        except asyncio.CancelledError as exc:
            task = asyncio.current_task()
            if task is not None and task.cancelling():
                raise  # the server is ending this socket: let it
            # A cancellation of the channel layer's own (its Redis connection lost) that
            # escaped the consumer: an outage like any other, not the server's business.
            await self._refuse(exc, state, send)
        except Exception as exc:
            await self._refuse(exc, state, send)

    async def _refuse(self, exc: BaseException, state: dict[str, bool], send: Any) -> None:
        if state["closed"]:
            return
        self._log.record(exc, what="websocket refused")
        try:
            if not state["accepted"]:
                await send({"type": "websocket.accept"})
            await send({"type": "websocket.close", "code": CLOSE_TRY_AGAIN_LATER})
        except Exception:  # the client is gone already
            logger.debug("could not close a failed websocket", exc_info=True)


def _origin(scheme: str, host: str) -> tuple[str, str, int] | None:
    """(scheme, host, port) of an origin, the port filled in from the scheme."""
    try:
        parsed = urlsplit(f"{scheme}://{host}" if "://" not in host else host)
        port = parsed.port
    except ValueError:
        return None
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        return None
    return parsed.scheme, parsed.hostname.lower(), port or (443 if parsed.scheme == "https" else 80)


class SameOriginWebsockets:
    """ASGI middleware: a websocket opens only from a page of this very site (scheme, host
    and port of its Origin equal to the request's own, the host in ALLOWED_HOSTS) or of
    an origin in CSRF_TRUSTED_ORIGINS, as Django checks a form's POST. A host check alone
    would let a page served on another port of the same host (any local service) use the
    agent's session."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "websocket" and not self.allowed(scope):
            await WebsocketDenier.as_asgi()(scope, receive, send)  # an HTTP 403 at the handshake
            return
        await self.app(scope, receive, send)

    @staticmethod
    def allowed(scope: dict[str, Any]) -> bool:
        headers = {name.decode("latin1").lower(): value.decode("latin1") for name, value in scope.get("headers", [])}
        origin = _origin("", headers.get("origin", ""))
        if origin is None:
            return False
        if origin in {_origin("", trusted) for trusted in settings.CSRF_TRUSTED_ORIGINS}:
            return True
        host = headers.get("x-forwarded-host", "") if settings.USE_X_FORWARDED_HOST else ""
        host = host.split(",")[0].strip() or headers.get("host", "")
        scheme = "https" if scope.get("scheme") == "wss" else "http"
        proxy = settings.SECURE_PROXY_SSL_HEADER
        if proxy is not None:
            name = proxy[0].removeprefix("HTTP_").replace("_", "-").lower()
            forwarded = headers.get(name)
            if forwarded is not None:
                scheme = "https" if forwarded.split(",")[0].strip() == proxy[1] else "http"
        own = _origin(scheme, host)
        return own is not None and origin == own and validate_host(own[1], settings.ALLOWED_HOSTS)
