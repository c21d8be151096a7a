"""Django's ASGI handler, with each request's worker thread kept for the next one.

Django runs a request's synchronous code (middleware, view, signals) in one
worker thread per request: its `ASGIHandler` enters asgiref's
`ThreadSensitiveContext()`, which starts a new single-thread executor for the
request and, when the request ends, another thread to join it: two thread starts
per request on the busiest endpoint (its share: docs/ingest.md, `bench/ingest.py`).

`ASGIHandler` here gives each request a single-thread executor from a small pool
instead (asgiref's `ThreadSensitiveContext(executor=...)`): the same isolation (one
request's synchronous code runs on one thread, never interleaved with another
request's on that thread), without starting threads. An executor that is still
running work when its request ends (a view that outlived a client disconnect) is
not reused; it is shut down once that work finishes.
"""

from __future__ import annotations

import threading
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from asgiref.sync import ThreadSensitiveContext
from django.core.handlers.asgi import ASGIHandler as DjangoASGIHandler

# Idle executors kept per process: more than the requests a process serves at once.
IDLE_WORKERS = 32


class RequestWorker(ThreadPoolExecutor):
    """One thread for one request at a time, counting the calls it has not finished."""

    def __init__(self) -> None:
        super().__init__(max_workers=1, thread_name_prefix="request")
        self._lock = threading.Lock()
        self._running = 0

    def submit(self, fn: Any, /, *args: Any, **kwargs: Any) -> Future[Any]:
        with self._lock:
            self._running += 1
        try:
            future = super().submit(fn, *args, **kwargs)
        except BaseException:
            self._finished(None)
            raise
        future.add_done_callback(self._finished)
        return future

    def _finished(self, _: Future[Any] | None) -> None:
        with self._lock:
            self._running -= 1

    @property
    def idle(self) -> bool:
        with self._lock:
            return self._running == 0


class ASGIHandler(DjangoASGIHandler):
    """Django's handler; each request runs on a pooled thread (see the module's docstring)."""

    def __init__(self) -> None:
        super().__init__()
        self._idle: list[RequestWorker] = []  # touched only on the event loop's thread

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            raise ValueError(f"Django can only handle ASGI/HTTP connections, not {scope['type']}.")
        worker = self._idle.pop() if self._idle else RequestWorker()
        try:
            async with ThreadSensitiveContext(executor=worker):
                await self.handle(scope, receive, send)
        finally:
            if worker.idle and len(self._idle) < IDLE_WORKERS:
                self._idle.append(worker)
            else:
                worker.shutdown(wait=False)


def get_asgi_application() -> ASGIHandler:
    """As `django.core.asgi.get_asgi_application`, with the pooled handler."""
    import django

    django.setup(set_prefix=False)
    return ASGIHandler()
