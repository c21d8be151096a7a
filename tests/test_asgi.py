"""Under ASGI, Django's middleware chain runs in one worker thread, not one hop per method,
and requests reuse pooled worker threads instead of starting new ones."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest
import requests
from asgiref.sync import SyncToAsync, sync_to_async

from assist.handlers import ASGIHandler
from tests.conftest import api_key


def test_an_api_request_crosses_into_a_worker_thread_a_few_times_not_per_middleware(
    asgi_server: str, integration: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    headers = {"Authorization": f"Token {api_key(integration)}"}
    url = asgi_server + "/api/categories/"
    assert requests.get(url, headers=headers, timeout=10).status_code == 200  # builds the chain
    hops = {"n": 0}
    real_call = SyncToAsync.__call__

    async def counted(self: SyncToAsync[Any, Any], *args: Any, **kwargs: Any) -> Any:
        hops["n"] += 1
        return await real_call(self, *args, **kwargs)

    monkeypatch.setattr(SyncToAsync, "__call__", counted)
    assert requests.get(url, headers=headers, timeout=10).status_code == 200
    # Measured: 8 (the security middleware in and out, the chain, the view, the
    # request signals); with each Django middleware hopping on its own, 17.
    assert 0 < hops["n"] <= 9, hops["n"]


def test_requests_reuse_pooled_worker_threads_instead_of_starting_two_each(
    asgi_server: str, integration: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    headers = {"Authorization": f"Token {api_key(integration)}"}
    url = asgi_server + "/api/categories/"
    for _ in range(3):
        assert requests.get(url, headers=headers, timeout=10).status_code == 200
    started = {"n": 0}
    real_start = threading.Thread.start

    def counted(self: threading.Thread) -> None:
        started["n"] += 1
        real_start(self)

    monkeypatch.setattr(threading.Thread, "start", counted)
    for _ in range(20):
        assert requests.get(url, headers=headers, timeout=10).status_code == 200
    # Django's own handler starts two threads per request (the request's
    # executor and the one that joins it): 40 here.
    assert started["n"] <= 1, started["n"]


@pytest.mark.asyncio
async def test_a_request_runs_on_one_pooled_thread_and_a_busy_thread_is_not_reused() -> None:
    handler = ASGIHandler()
    seen: list[int] = []

    async def quick(scope: Any, receive: Any, send: Any) -> None:
        seen.append(await sync_to_async(threading.get_ident)())
        seen.append(await sync_to_async(threading.get_ident)())

    handler.handle = quick  # type: ignore[method-assign]
    await handler({"type": "http"}, None, None)
    await handler({"type": "http"}, None, None)
    assert len(set(seen)) == 1  # both requests, every call: the same pooled thread
    assert len(handler._idle) == 1

    release = threading.Event()

    async def abandoned(scope: Any, receive: Any, send: Any) -> None:
        # A view still running when its request ends (the client went away).
        task = asyncio.ensure_future(sync_to_async(release.wait)())
        await asyncio.sleep(0.05)
        task.cancel()

    handler.handle = abandoned  # type: ignore[method-assign]
    await handler({"type": "http"}, None, None)
    assert handler._idle == []  # its thread is busy: not handed to the next request
    release.set()
    with pytest.raises(ValueError, match="websocket"):
        await handler({"type": "websocket"}, None, None)


def _start(application: Any) -> list[dict[str, Any]]:
    """Send the server's start-up message through the ASGI lifespan; what it answered."""
    sent: list[dict[str, Any]] = []
    messages = [{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}]

    async def receive() -> dict[str, Any]:
        return messages.pop(0)

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    asyncio.run(application({"type": "lifespan", "asgi": {"version": "3.0"}}, receive, send))
    return sent


def test_the_live_model_is_loaded_and_warmed_before_the_server_takes_a_request(
    live_model: Any, transactional_db: Any
) -> None:
    from assist.asgi import application
    from triage import serving

    serving.reset()
    assert _start(application)[0] == {"type": "lifespan.startup.complete"}
    loaded = serving._holder.current  # loaded at start, not by the first ticket
    assert loaded is not None and loaded.version == live_model.version
    assert loaded.cache.stats()["entries"] == 0  # the warm-up suggestion is not cached as a ticket


def test_a_server_asked_for_an_encoder_it_cannot_load_refuses_to_start(settings: Any, db: Any) -> None:
    from unittest import mock

    from assist.asgi import application
    from triage.ml.encoder import EncoderUnavailableError

    settings.MODEL_ENCODER = "minilm-int8"
    missing = EncoderUnavailableError("onnxruntime is missing")
    with mock.patch("triage.ml.encoder.encoder_model_dir", autospec=True, side_effect=missing):
        answer = _start(application)[0]
    assert answer["type"] == "lifespan.startup.failed"
    assert "assist.E004" in answer["message"] and "onnxruntime is missing" in answer["message"]


async def test_sync_code_run_by_the_server_finds_its_event_loop_for_the_broadcast() -> None:
    # triage.broadcast reads asgiref's thread-local record of the server's loop: if an
    # asgiref upgrade moves it, pushes fall back to blocking sends and this fails.
    from triage import broadcast

    assert await sync_to_async(broadcast._server_loop)() is asyncio.get_running_loop()
    assert broadcast._server_loop() is None  # the main thread has no server loop to hand to
