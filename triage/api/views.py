"""The REST API: thin views that validate, call a service or a selector, and serialize."""

from __future__ import annotations

from typing import Any, cast

from django.conf import settings
from django.contrib.auth.models import User
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.pagination import PageNumberPagination
from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from triage import selectors, services
from triage.api import schema
from triage.api.permissions import CanIngest, CanTriage, CanViewTickets
from triage.api.serializers import (
    BulkTriageIn,
    BulkTriageOut,
    CategoryFilter,
    CategoryOut,
    TicketFilter,
    TicketIn,
    TicketOut,
    TicketPageOut,
    TriageIn,
    TriageOut,
    UndoOut,
    UndoRefusedOut,
    errors_flat,
)
from triage.models import Queue, Ticket

# The largest id a ticket can have (a bigint): anything else in the URL is not an id.
MAX_ID = 2**63 - 1

TICKET_ID = OpenApiParameter(
    "ticket_id",
    {"type": "integer", "minimum": 1, "maximum": MAX_ID},
    OpenApiParameter.PATH,
    description="The ticket's id.",
)


def ticket_id_parse(raw: str) -> int:
    """The ticket id from the URL; anything but a whole number in a bigint's range is a 400."""
    return _whole_number(raw, name="ticket_id", low=1, high=MAX_ID)


def _ticket_or_404(raw_id: str) -> Ticket:
    ticket = selectors.with_live_prediction(Ticket.objects.all()).filter(pk=ticket_id_parse(raw_id)).first()
    if ticket is None:
        raise NotFound("No such ticket.")
    return ticket


def query_strict(request: Request, *names: str) -> None:
    """A parameter given twice (`?page=1&page=2`) or empty (`?status=`) is a 400 naming it,
    not a silent pick or a silent "not asked"."""
    wrong = {}
    for name in names:
        values = request.query_params.getlist(name)
        if len(values) > 1:
            wrong[name] = ["Give this parameter once."]
        elif values == [""]:
            wrong[name] = ["This parameter may not be empty."]
    if wrong:
        raise ValidationError(wrong)


def _whole_number(raw: str, *, name: str, low: int, high: int) -> int:
    if raw.isascii() and raw.isdigit() and len(raw) <= 19 and low <= int(raw) <= high:
        return int(raw)
    raise ValidationError({name: [f"A whole number from {low} to {high:,}."]})


class TicketPagination(PageNumberPagination):
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200

    def paginate_queryset(self, queryset: Any, request: Request, view: Any = None) -> list[Any] | None:
        """A `page` or `page_size` that is not a positive number in range is bad input (a
        400 naming it); a page past the last one stays DRF's 404, however many digits it
        has (Python refuses to read an integer of over 4,300)."""
        query_strict(request, self.page_query_param, self.page_size_query_param)
        page = request.query_params.get(self.page_query_param)
        if page is not None and page.isascii() and page.isdigit() and len(page) > 18:
            raise NotFound("Invalid page.")
        if page is not None and page not in self.last_page_strings:
            _whole_number(page, name=self.page_query_param, low=1, high=MAX_ID)
        size = request.query_params.get(self.page_size_query_param)
        if size is not None:
            _whole_number(size, name=self.page_size_query_param, low=1, high=self.max_page_size)
        return super().paginate_queryset(queryset, request, view)


class TicketListCreateApi(APIView):
    def get_permissions(self) -> list[BasePermission]:
        return [CanIngest()] if self.request.method == "POST" else [CanViewTickets()]

    @extend_schema(
        operation_id="tickets_list",
        parameters=[
            TicketFilter,
            OpenApiParameter(
                "page", {"type": "integer", "minimum": 1, "maximum": MAX_ID}, description="The page, from 1."
            ),
            OpenApiParameter(
                "page_size",
                {"type": "integer", "minimum": 1, "maximum": TicketPagination.max_page_size},
                description=f"Tickets a page (default {TicketPagination.page_size}).",
            ),
        ],
        responses={200: TicketPageOut, **schema.errors(400, 401, 403, 404)},
    )
    def get(self, request: Request) -> Response:
        query_strict(request, *TicketFilter().fields)
        filters = TicketFilter(data=request.query_params)
        filters.is_valid(raise_exception=True)
        tickets = selectors.ticket_list(**filters.validated_data)
        paginator = TicketPagination()
        page = paginator.paginate_queryset(tickets, request, view=self)
        return paginator.get_paginated_response(TicketOut(page, many=True).data)

    @extend_schema(
        operation_id="tickets_create",
        request=TicketIn,
        responses={
            201: OpenApiResponse(TicketOut, description="Stored and classified."),
            200: OpenApiResponse(TicketOut, description="Already stored under this source and external id."),
            **schema.errors(400, 401, 403, 413),
        },
    )
    def post(self, request: Request) -> Response:
        data = TicketIn(data=request.data)
        data.is_valid(raise_exception=True)
        result = services.ticket_ingest(**data.validated_data)
        code = status.HTTP_201_CREATED if result.created else status.HTTP_200_OK
        return Response(TicketOut(result.ticket).data, status=code)


class TicketDetailApi(APIView):
    permission_classes = [CanViewTickets]

    @extend_schema(
        operation_id="ticket_retrieve",
        parameters=[TICKET_ID],
        responses={200: TicketOut, **schema.errors(400, 401, 403, 404)},
    )
    def get(self, request: Request, ticket_id: str) -> Response:
        return Response(TicketOut(_ticket_or_404(ticket_id)).data)


class TicketTriageApi(APIView):
    permission_classes = [CanTriage]

    @extend_schema(
        operation_id="ticket_triage",
        parameters=[TICKET_ID],
        request=TriageIn,
        responses={
            200: OpenApiResponse(TriageOut, description="Triaged (or this agent's same choice again)."),
            409: OpenApiResponse(TriageOut, description="Another agent triaged it first; recorded once, not applied."),
            **schema.errors(400, 401, 403, 404, 413),
        },
    )
    def post(self, request: Request, ticket_id: str) -> Response:
        ticket = _ticket_or_404(ticket_id)
        data = TriageIn(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            result = services.ticket_triage(
                ticket=ticket,
                agent=cast(User, request.user),  # CanTriage admits authenticated users only
                category=data.validated_data["category"],
                seconds_taken=data.validated_data.get("seconds_taken"),
            )
        except services.CategoryClosedError as exc:  # closed while the request was on its way
            raise ValidationError({"category": [str(exc)]}) from None
        ticket = selectors.with_live_prediction(Ticket.objects.all()).get(pk=ticket.pk)
        payload: dict[str, Any] = {
            "applied": result.applied,
            "decision": result.decision,
            "ticket": ticket,
            "undo_seconds": services.undo_seconds_left(result.decision),
        }
        if result.applied:
            payload["detail"] = f"Triaged as {result.ticket.category}."
            return Response(TriageOut(payload).data)
        by = ticket.triaged_by.get_username() if ticket.triaged_by else "another agent"
        payload["detail"] = f"Already triaged by {by} as {ticket.category}. Your choice was recorded."
        return Response(TriageOut(payload).data, status=status.HTTP_409_CONFLICT)


class TicketUndoApi(APIView):
    permission_classes = [CanTriage]

    @extend_schema(
        operation_id="ticket_undo",
        parameters=[TICKET_ID],
        request=None,
        responses={
            200: OpenApiResponse(UndoOut, description="Undone: the ticket waits in the queue again."),
            409: OpenApiResponse(
                UndoRefusedOut,
                description="Refused: not this agent's triage, another agent acted since, or too late "
                "(`ASSIST_UNDO_SECONDS`); `reason` says which.",
            ),
            **schema.errors(400, 401, 403, 404, 413),
        },
    )
    def post(self, request: Request, ticket_id: str) -> Response:
        """Take back this agent's own triage of the ticket, within the undo window."""
        try:
            result = services.decision_undo(
                ticket_id=ticket_id_parse(ticket_id),
                agent=cast(User, request.user),  # CanTriage admits authenticated users only
            )
        except Ticket.DoesNotExist:
            raise NotFound("No such ticket.") from None
        except services.UndoRefusedError as exc:
            refused = {"detail": str(exc), "reason": exc.reason}
            return Response(UndoRefusedOut(refused).data, status=status.HTTP_409_CONFLICT)
        ticket = selectors.with_live_prediction(Ticket.objects.all()).get(pk=result.ticket.pk)
        payload = {
            "detail": f"Ticket #{ticket.pk} is back in the queue.",
            "decision": result.decision,
            "undo": result.undo,
            "ticket": ticket,
        }
        return Response(UndoOut(payload).data)


class BulkTriageApi(APIView):
    """Many waiting tickets to one category in one request: named by id, or "every
    ticket like this" (a suggested category at a confidence or more, within the queue
    page's filters)."""

    permission_classes = [CanTriage]

    @extend_schema(
        operation_id="tickets_triage_bulk",
        request=BulkTriageIn,
        responses={
            200: OpenApiResponse(
                BulkTriageOut, description="Triaged what was waiting; the rest is listed as taken or missing."
            ),
            **schema.errors(400, 401, 403, 413),
        },
    )
    def post(self, request: Request) -> Response:
        data = BulkTriageIn(data=request.data)
        if not data.is_valid():
            raise ValidationError(errors_flat(data.errors))
        given = data.validated_data
        limit = settings.BULK_TRIAGE_MAX_TICKETS
        if "like" in given:
            like = given["like"]
            view = selectors.QueueView(
                q=" ".join(like.get("q", "").split()),
                queue=Queue.objects.filter(slug=like["queue"]).first() if like.get("queue") else None,
                channel=like.get("channel", ""),
                language=like.get("language", ""),
                urgent=like.get("urgent", False),
                age=like.get("age", ""),
            )
            ids = selectors.queue_like_ids(
                view=view, suggested=like["suggested"], min_confidence=like["min_confidence"], limit=limit + 1
            )
            if len(ids) > limit:
                raise ValidationError(
                    {"like": [f"More than {limit:,} tickets match: narrow the filters, or triage in parts."]}
                )
        else:
            ids = given["tickets"]
        category = given["category"]
        if given["dry_run"]:
            return Response(
                BulkTriageOut({"matching": len(set(ids)), "triaged": [], "taken": [], "missing": [], "detail": ""}).data
            )
        try:
            result = services.tickets_triage_bulk(ticket_ids=ids, agent=cast(User, request.user), category=category)
        except services.CategoryClosedError as exc:
            raise ValidationError({"category": [str(exc)]}) from None
        detail = f"{len(result.triaged):,} triaged as {category.label}"
        if result.taken:
            detail += f", {len(result.taken):,} already taken by others"
        if result.missing:
            detail += f", {len(result.missing):,} not found"
        payload = {
            "matching": len(set(ids)),
            "triaged": result.triaged,
            "taken": result.taken,
            "missing": result.missing,
            "detail": detail + ".",
        }
        return Response(BulkTriageOut(payload).data)


class CategoryListApi(APIView):
    permission_classes = [CanViewTickets]

    @extend_schema(
        operation_id="categories_list",
        parameters=[CategoryFilter],
        responses={200: CategoryOut(many=True), **schema.errors(400, 401, 403)},
    )
    def get(self, request: Request) -> Response:
        query_strict(request, *CategoryFilter().fields)
        filters = CategoryFilter(data=request.query_params)
        filters.is_valid(raise_exception=True)
        return Response(CategoryOut(selectors.all_categories(**filters.validated_data), many=True).data)
