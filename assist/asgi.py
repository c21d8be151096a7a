"""ASGI entry point: HTTP through Django, websockets through Channels, start-up through lifespan."""

import asyncio
import os
from typing import Any

from assist.handlers import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "assist.settings")
django_asgi_app = get_asgi_application()  # Django's handler, its request threads pooled

# Imported after Django is set up: routing imports models.
from asgiref.sync import sync_to_async  # noqa: E402
from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import WebsocketDenier  # noqa: E402
from django.conf import settings  # noqa: E402
from django.core.checks import run_checks  # noqa: E402
from django.urls import re_path  # noqa: E402

from assist.middleware import SameOriginWebsockets, WebsocketOutageGuard  # noqa: E402
from triage import serving  # noqa: E402
from triage.integrations import runner  # noqa: E402
from triage.routing import websocket_urlpatterns  # noqa: E402


async def lifespan(scope: dict, receive: Any, send: Any) -> None:
    """ASGI lifespan. At start, check the configuration and warm the live model before
    the server accepts a request (the first push must not wait for a model load); a
    process that cannot serve its model fails to start, with the reason. Without Redis,
    the web process also polls mailboxes and delivers webhooks itself
    (triage/integrations/runner.py), from startup to shutdown."""
    stop, task = asyncio.Event(), None
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            try:
                errors = [e for e in await sync_to_async(run_checks)() if e.is_serious()]
                if errors:
                    raise RuntimeError("; ".join(str(e) for e in errors))
                await sync_to_async(serving.warm, thread_sensitive=False)()
            except Exception as exc:  # reported to the server, which refuses to start
                await send({"type": "lifespan.startup.failed", "message": f"Assist cannot start: {exc}"})
                return
            if settings.INTEGRATIONS_IN_WEB:
                task = asyncio.create_task(runner.run(stop))
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            stop.set()
            if task is not None:
                await task
            await send({"type": "lifespan.shutdown.complete"})
            return


def build_application(http_app: object = django_asgi_app) -> ProtocolTypeRouter:
    return ProtocolTypeRouter(
        {
            "lifespan": lifespan,
            "http": http_app,
            "websocket": WebsocketOutageGuard(
                SameOriginWebsockets(
                    AuthMiddlewareStack(
                        # A path no consumer serves is refused at the handshake; the router
                        # alone would raise, and the server answer 500.
                        URLRouter([*websocket_urlpatterns, re_path(r"", WebsocketDenier.as_asgi())])
                    )
                )
            ),
        }
    )


application = build_application()
