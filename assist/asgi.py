"""ASGI entry point: HTTP through Django, websockets through Channels."""

import os

from assist.handlers import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "assist.settings")
django_asgi_app = get_asgi_application()  # Django's handler, its request threads pooled

# Imported after Django is set up: routing imports models.
from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402

from assist.middleware import WebsocketOutageGuard  # noqa: E402
from triage.routing import websocket_urlpatterns  # noqa: E402


def build_application(http_app: object = django_asgi_app) -> ProtocolTypeRouter:
    return ProtocolTypeRouter(
        {
            "http": http_app,
            "websocket": WebsocketOutageGuard(
                AllowedHostsOriginValidator(AuthMiddlewareStack(URLRouter(websocket_urlpatterns)))
            ),
        }
    )


application = build_application()
