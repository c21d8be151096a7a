"""The agents' queue websocket (/ws/queue/): pushes new and triaged tickets. Also the
role-checked socket base that the models page's socket shares."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from importlib import import_module
from typing import Any

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.conf import settings
from django.contrib.auth import HASH_SESSION_KEY, SESSION_KEY, get_user_model
from django.utils.crypto import constant_time_compare

from triage.broadcast import QUEUE_GROUP
from triage.roles import user_can_triage

logger = logging.getLogger(__name__)

# Sent in the close frame when the user may not watch the queue.
CLOSE_FORBIDDEN = 4403
# RFC 6455 close codes for a client message the socket can't take: a binary frame
# (1003, unsupported data) or text that is not JSON (1007, invalid payload).
CLOSE_UNSUPPORTED = 1003
CLOSE_INVALID = 1007
# An open socket re-checks its user's session and role at most this often, when it
# next has something to send: a user who logs out or loses the role stops receiving
# updates within this time, at a few queries per socket per minute.
RECHECK_SECONDS = 60.0


def still_allowed(scope: dict[str, Any], may_watch: Callable[[Any], bool]) -> bool:
    """Whether the socket's user may still watch: still logged in with the same session
    (when the socket came with one), still active, still holding the role."""
    user = scope.get("user")
    if user is None or not user.is_authenticated:
        return False
    fresh = get_user_model().objects.filter(pk=user.pk).first()
    if fresh is None:
        return False
    session = scope.get("session")
    if session is not None:
        # A new store reads the session from its backend: the scope's copy was loaded at
        # connect time and still holds the user after a logout flushed it.
        stored = import_module(settings.SESSION_ENGINE).SessionStore(session.session_key)
        if str(stored.get(SESSION_KEY)) != str(fresh.pk):
            return False
        if not constant_time_compare(stored.get(HASH_SESSION_KEY, ""), fresh.get_session_auth_hash()):
            return False  # the password changed since: Django logs such sessions out too
    return may_watch(fresh)


class RoleCheckedConsumer(AsyncJsonWebsocketConsumer):
    """A socket that forwards one group's events to the users a role check lets in.

    Subclasses set `group` and `may_watch` (a synchronous check of a user), and pass
    their group's events to `forward`.
    """

    group: str = ""

    @staticmethod
    def may_watch(user: Any) -> bool:
        raise NotImplementedError

    async def connect(self) -> None:
        user = self.scope.get("user")
        allowed = user is not None and await database_sync_to_async(type(self).may_watch)(user)
        if allowed:
            await self.channel_layer.group_add(self.group, self.channel_name)
        self.checked_at = time.monotonic()
        self.refused = not allowed
        # Accept, then refuse: a socket refused during the handshake reaches the browser as
        # an HTTP 403 and close code 1006, indistinguishable from a dropped network, so the
        # page would retry forever instead of asking the user to sign in again.
        await self.accept()
        if not allowed:
            await self.close(code=CLOSE_FORBIDDEN)

    async def disconnect(self, code: int) -> None:
        await self.channel_layer.group_discard(self.group, self.channel_name)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None, **kwargs: Any) -> None:
        """Client messages are small JSON texts. Anything else closes the socket with
        the matching code, after leaving the group: raising here instead would end the
        socket without `disconnect`, leaving its channel in the group for a day."""
        if self.refused:
            return
        if text_data is None:
            await self.leave(CLOSE_UNSUPPORTED, "the client sent a binary frame")
            return
        try:
            content = await self.decode_json(text_data)
        except ValueError:
            await self.leave(CLOSE_INVALID, "the client sent text that is not JSON")
            return
        await self.receive_json(content, **kwargs)

    async def leave(self, code: int, why: str) -> None:
        """Stop forwarding, leave the group and close the socket with `code`."""
        self.refused = True
        await self.channel_layer.group_discard(self.group, self.channel_name)
        logger.info("%s socket of user %s closed (%s): %s", self.group, self.user_id(), code, why)
        await self.close(code=code)

    def user_id(self) -> Any:
        user = self.scope.get("user")
        return getattr(user, "pk", None)

    async def forward(self, event: dict[str, Any]) -> None:
        """Send a group event to the browser, after re-checking the user when it is time."""
        if self.refused:
            return  # events already on their way when the socket was closed
        if time.monotonic() - self.checked_at >= RECHECK_SECONDS:
            if not await database_sync_to_async(still_allowed)(self.scope, type(self).may_watch):
                await self.leave(CLOSE_FORBIDDEN, "its user may no longer watch")
                return
            self.checked_at = time.monotonic()
        await self.send_json({key: value for key, value in event.items() if key != "type"})


class QueueConsumer(RoleCheckedConsumer):
    group = QUEUE_GROUP
    may_watch = staticmethod(user_can_triage)

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        if isinstance(content, dict) and content.get("type") == "ping":
            await self.send_json({"event": "pong"})

    async def queue_event(self, event: dict[str, Any]) -> None:
        await self.forward(event)
