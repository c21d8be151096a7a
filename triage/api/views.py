"""The REST API: thin views that validate, call a service or a selector, and serialize."""

from __future__ import annotations

from typing import Any, cast

from django.contrib.auth.models import User
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.pagination import PageNumberPagination
from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from triage import selectors, services
from triage.api.permissions import CanIngest, CanTriage, CanViewTickets
from triage.api.serializers import (
    CategoryOut,
    TicketFilter,
    TicketIn,
    TicketOut,
    TriageIn,
    TriageOut,
)
from triage.models import Ticket


class TicketPagination(PageNumberPagination):
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200

    def paginate_queryset(self, queryset: Any, request: Request, view: Any = None) -> list[Any] | None:
        """A `page` that is not a positive number is bad input (400 naming it); a page
        past the last one stays DRF's 404, however many digits it has (Python refuses
        to read an integer of over 4,300)."""
        page = request.query_params.get(self.page_query_param)
        if page is not None and page.isascii() and page.isdigit() and len(page) > 18:
            raise NotFound("Invalid page.")
        if (
            page is not None
            and page not in self.last_page_strings
            and not (page.isascii() and page.isdigit() and int(page) > 0)
        ):
            raise ValidationError({self.page_query_param: ["A page number is a positive whole number."]})
        return super().paginate_queryset(queryset, request, view)


class TicketListCreateApi(APIView):
    def get_permissions(self) -> list[BasePermission]:
        return [CanIngest()] if self.request.method == "POST" else [CanViewTickets()]

    @extend_schema(parameters=[TicketFilter], responses=TicketOut(many=True))
    def get(self, request: Request) -> Response:
        filters = TicketFilter(data=request.query_params)
        filters.is_valid(raise_exception=True)
        tickets = selectors.ticket_list(**filters.validated_data)
        paginator = TicketPagination()
        page = paginator.paginate_queryset(tickets, request, view=self)
        return paginator.get_paginated_response(TicketOut(page, many=True).data)

    @extend_schema(
        request=TicketIn,
        responses={
            201: OpenApiResponse(TicketOut, description="Stored and classified."),
            200: OpenApiResponse(TicketOut, description="Already stored under this source and external id."),
            400: OpenApiResponse(description="Invalid input; the JSON names the field."),
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

    @extend_schema(responses=TicketOut)
    def get(self, request: Request, ticket_id: int) -> Response:
        ticket = get_object_or_404(selectors.with_live_prediction(Ticket.objects.all()), pk=ticket_id)
        return Response(TicketOut(ticket).data)


class TicketTriageApi(APIView):
    permission_classes = [CanTriage]

    @extend_schema(
        request=TriageIn,
        responses={
            200: TriageOut,
            409: OpenApiResponse(TriageOut, description="Another agent triaged it first; recorded, not applied."),
        },
    )
    def post(self, request: Request, ticket_id: int) -> Response:
        ticket = get_object_or_404(Ticket, pk=ticket_id)
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
        ticket = selectors.with_live_prediction(Ticket.objects.all()).get(pk=ticket_id)
        payload: dict[str, Any] = {"applied": result.applied, "decision": result.decision, "ticket": ticket}
        if result.applied:
            payload["detail"] = f"Triaged as {result.ticket.category}."
            return Response(TriageOut(payload).data)
        by = ticket.triaged_by.get_username() if ticket.triaged_by else "another agent"
        payload["detail"] = f"Already triaged by {by} as {ticket.category}. Your choice was recorded."
        return Response(TriageOut(payload).data, status=status.HTTP_409_CONFLICT)


class CategoryListApi(APIView):
    permission_classes = [CanViewTickets]

    @extend_schema(responses=CategoryOut(many=True))
    def get(self, request: Request) -> Response:
        return Response(CategoryOut(selectors.all_categories(), many=True).data)
