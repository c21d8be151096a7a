"""ASGI entry point: HTTP through Django, websockets through Channels."""

import os
from typing import Any

from assist.handlers import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "assist.settings")
django_asgi_app = get_asgi_application()  # Django's handler, its request threads pooled

# Imported after Django is set up: routing imports models.
from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402

from triage.routing import websocket_urlpatterns  # noqa: E402


class Lifespan:
    """ASGI lifespan: without Redis, the web process polls mailboxes and delivers
    webhooks itself (triage/integrations/runner.py), from startup to shutdown."""

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        import asyncio

        from django.conf import settings

        from triage.integrations import runner

        stop, task = asyncio.Event(), None
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
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
            "http": http_app,
            "websocket": AllowedHostsOriginValidator(AuthMiddlewareStack(URLRouter(websocket_urlpatterns))),
            "lifespan": Lifespan(),
        }
    )


application = build_application()
