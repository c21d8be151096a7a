"""The models page's websocket (/ws/models/): training progress and model changes, live."""

from __future__ import annotations

from typing import Any

from triage.consumers import RoleCheckedConsumer
from triage.learning.broadcast import MODELS_GROUP
from triage.roles import CAN_MANAGE_MODELS, user_may


def _may_watch(user: Any) -> bool:
    return user_may(user, CAN_MANAGE_MODELS)


class ModelsConsumer(RoleCheckedConsumer):
    group = MODELS_GROUP
    may_watch = staticmethod(_may_watch)

    async def models_event(self, event: dict[str, Any]) -> None:
        await self.forward(event)
