"""Pages. The queue page renders the untriaged tickets; live updates come over /ws/queue/."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.decorators import login_required, permission_required
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from triage import selectors, serving
from triage.roles import CAN_TRIAGE


def _queue_context() -> dict[str, object]:
    model = serving.active_model()
    return {
        "tickets": selectors.queue_untriaged(limit=settings.QUEUE_PAGE_SIZE),
        "queue_count": selectors.queue_count(),
        "model_version": model.version if model else None,
        "names": selectors.category_names(),
    }


@require_GET
@login_required
@permission_required(CAN_TRIAGE, raise_exception=True)
def queue(request: HttpRequest) -> HttpResponse:
    categories = [{"slug": c.slug, "name": c.name, "description": c.description} for c in selectors.active_categories()]
    return render(request, "triage/queue.html", {**_queue_context(), "categories": categories})


@require_GET
@login_required
@permission_required(CAN_TRIAGE, raise_exception=True)
def queue_rows(request: HttpRequest) -> HttpResponse:
    """The queue's rows alone: pages reload them after a reconnect to catch up."""
    return render(request, "triage/_ticket_list.html", _queue_context())


@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    """Liveness for load balancers: the database answers and whether a model serves."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    model = serving.active_model()
    return JsonResponse({"ok": True, "model_version": model.version if model else None})
