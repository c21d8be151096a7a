"""The agents' queue websocket (/ws/queue/): pushes new and triaged tickets. Also the
role-checked socket base that the models page's socket shares."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable
from importlib import import_module
from typing import Any

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.conf import settings
from django.contrib.auth import HASH_SESSION_KEY, SESSION_KEY, get_user_model
from django.utils.crypto import constant_time_compare

from triage.broadcast import QUEUE_GROUP, sequence_current
from triage.roles import user_can_triage

logger = logging.getLogger(__name__)

# Sent in the close frame when the user may not watch the queue.
CLOSE_FORBIDDEN = 4403
# RFC 6455 close codes for a client message the socket can't take: a binary frame
# (1003, unsupported data) or text that is not JSON (1007, invalid payload).
CLOSE_UNSUPPORTED = 1003
CLOSE_INVALID = 1007
# Sent when the page has not acknowledged what it was sent for too long: it resyncs
# when it reconnects, and meanwhile the group stops writing to a socket nobody reads.
CLOSE_TOO_SLOW = 4429
UNACKED_SECONDS = 15.0
# A member of a group is pruned by the channel layer after its group expiry
# (settings.CHANNEL_LAYERS); an open socket renews its membership well before that.
GROUP_RENEW_SECONDS = 300.0
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
        self.renewal: asyncio.Task[None] | None = asyncio.create_task(self.renew()) if allowed else None
        # Accept, then refuse: a socket refused during the handshake reaches the browser as
        # an HTTP 403 and close code 1006, indistinguishable from a dropped network, so the
        # page would retry forever instead of asking the user to sign in again.
        await self.accept()
        if not allowed:
            await self.close(code=CLOSE_FORBIDDEN)

    async def disconnect(self, code: int) -> None:
        await self.part()

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        # Whatever ends the consumer (a close, a dropped connection, an error in a
        # handler), its channel leaves the group: a member left behind would be written
        # to on every push until the group expires.
        try:
            await super().__call__(scope, receive, send)
        finally:
            if getattr(self, "channel_layer", None) is not None and getattr(self, "channel_name", None):
                await self.part()

    async def part(self) -> None:
        """Leave the group and stop renewing the membership (more than once is harmless)."""
        renewal, self.renewal = getattr(self, "renewal", None), None
        if renewal is not None:
            renewal.cancel()
        try:
            await self.channel_layer.group_discard(self.group, self.channel_name)
        except Exception:  # the layer is down: the membership expires with the group's expiry
            logger.warning("%s socket could not leave its group", self.group, exc_info=True)

    async def renew(self) -> None:
        every = min(GROUP_RENEW_SECONDS, getattr(self.channel_layer, "group_expiry", 86400) / 3)
        while True:
            await asyncio.sleep(every)
            try:
                await self.channel_layer.group_add(self.group, self.channel_name)
            except Exception:  # the layer is down: the next renewal may get through
                logger.warning("%s socket could not renew its group membership", self.group, exc_info=True)

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
        except (ValueError, RecursionError):  # deeply nested arrays exhaust the parser's stack
            await self.leave(CLOSE_INVALID, "the client sent text that is not JSON")
            return
        if not (isinstance(content, dict) and self.understands(content)):
            await self.leave(CLOSE_INVALID, "the client sent a message of a shape it does not send")
            return
        await self.receive_json(content, **kwargs)

    def understands(self, content: dict[str, Any]) -> bool:
        """Whether a client message has a shape this socket's page sends."""
        return content.get("type") == "ping"

    async def leave(self, code: int, why: str) -> None:
        """Stop forwarding, leave the group and close the socket with `code`."""
        self.refused = True
        await self.part()
        logger.info("%s socket of user %s closed (%s): %s", self.group, self.user_id(), code, why)
        await self.close(code=code)

    def user_id(self) -> Any:
        user = self.scope.get("user")
        return getattr(user, "pk", None)

    async def forward(self, event: dict[str, Any]) -> None:
        """Send a group event to the browser, after re-checking the user when it is time."""
        if await self.may_send():
            await self.send_json({key: value for key, value in event.items() if key != "type"})

    async def may_send(self) -> bool:
        if self.refused:
            return False  # events already on their way when the socket was closed
        if time.monotonic() - self.checked_at >= RECHECK_SECONDS:
            if not await database_sync_to_async(still_allowed)(self.scope, type(self).may_watch):
                await self.leave(CLOSE_FORBIDDEN, "its user may no longer watch")
                return False
            self.checked_at = time.monotonic()
        return True


class QueueConsumer(RoleCheckedConsumer):
    """Forwards numbered batches of queue events (triage.broadcast) as they come, and
    closes with CLOSE_TOO_SLOW a socket whose page stops acknowledging them."""

    group = QUEUE_GROUP
    may_watch = staticmethod(user_can_triage)

    async def connect(self) -> None:
        self.unacked: deque[tuple[int, float]] = deque()  # (seq, when sent), oldest first
        await super().connect()

    def understands(self, content: dict[str, Any]) -> bool:
        if content.get("type") == "ack":
            seq = content.get("seq")
            return isinstance(seq, int) and not isinstance(seq, bool)
        return content.get("type") == "sync" or super().understands(content)

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        if content["type"] == "ping":
            await self.send_json({"event": "pong"})
        elif content["type"] == "sync":
            # The number of the latest batch, read after joining the group: the page
            # counts on from it, so even a first batch lost is a gap it sees.
            await self.send_json({"event": "sync", "seq": await sequence_current(self.channel_layer, self.group)})
        elif content["type"] == "ack":
            while self.unacked and self.unacked[0][0] <= content["seq"]:
                self.unacked.popleft()

    async def queue_event(self, event: dict[str, Any]) -> None:
        await self.forward(event)  # unnumbered, as a process of an earlier release sends during a deploy

    async def queue_batch(self, message: dict[str, Any]) -> None:
        if self.unacked and time.monotonic() - self.unacked[0][1] > UNACKED_SECONDS:
            await self.leave(CLOSE_TOO_SLOW, "its page did not keep up with the pushes")
            return
        if not await self.may_send():
            return
        await self.send(text_data=message["text"])
        self.unacked.append((message["seq"], time.monotonic()))
