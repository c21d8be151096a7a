from __future__ import annotations

from typing import Any

from rest_framework.permissions import BasePermission
from rest_framework.request import Request

from triage.roles import CAN_INGEST, CAN_TRIAGE, CAN_VIEW_TICKETS

# What the API's endpoints check; token authentication loads them with the user.
API_PERMISSIONS = (CAN_INGEST, CAN_TRIAGE, CAN_VIEW_TICKETS)


class _HasPerm(BasePermission):
    perm = ""

    def has_permission(self, request: Request, view: Any) -> bool:
        user = request.user
        return bool(user and user.is_authenticated and user.has_perm(self.perm))


class CanIngest(_HasPerm):
    perm = CAN_INGEST


class CanTriage(_HasPerm):
    perm = CAN_TRIAGE


class CanViewTickets(_HasPerm):
    perm = CAN_VIEW_TICKETS
