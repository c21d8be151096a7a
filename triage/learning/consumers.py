"""The models page's websocket (/ws/models/): training progress and model changes, live."""

from __future__ import annotations

from typing import Any

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from triage.consumers import CLOSE_FORBIDDEN
from triage.learning.broadcast import MODELS_GROUP
from triage.roles import CAN_MANAGE_MODELS


def _may_watch(user: Any) -> bool:
    return bool(user is not None and user.is_authenticated and user.is_active and user.has_perm(CAN_MANAGE_MODELS))


class ModelsConsumer(AsyncJsonWebsocketConsumer):
    async def connect(self) -> None:
        if not await database_sync_to_async(_may_watch)(self.scope.get("user")):
            await self.close(code=CLOSE_FORBIDDEN)
            return
        await self.channel_layer.group_add(MODELS_GROUP, self.channel_name)
        await self.accept()

    async def disconnect(self, code: int) -> None:
        await self.channel_layer.group_discard(MODELS_GROUP, self.channel_name)

    async def models_event(self, event: dict[str, Any]) -> None:
        await self.send_json({key: value for key, value in event.items() if key != "type"})
