"""Pages. The queue page renders the untriaged tickets; live updates come over /ws/queue/."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.decorators import login_required, permission_required
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from triage import selectors, serving
from triage.models import Queue
from triage.roles import CAN_TRIAGE
from triage.taxonomy.selectors import recently_auto_triaged


def _watched(request: HttpRequest) -> Queue | None:
    """?queue=<slug>: the queue this agent watches; absent or unknown: all of them."""
    slug = request.GET.get("queue", "")
    return Queue.objects.filter(slug=slug).first() if slug else None


def _queue_context(request: HttpRequest) -> dict[str, object]:
    model = serving.active_model()
    watched = _watched(request)
    tickets, waiting = selectors.queue_page(limit=settings.QUEUE_PAGE_SIZE, queue=watched)
    return {
        "tickets": tickets,
        "queue_count": waiting,
        "model_version": model.version if model else None,
        "names": selectors.category_names(),
        "watched": watched,
        "auto_tickets": recently_auto_triaged(queue=watched),
    }


@require_GET
@login_required
@permission_required(CAN_TRIAGE, raise_exception=True)
def queue(request: HttpRequest) -> HttpResponse:
    categories = [
        {"slug": c.slug, "name": c.label, "description": c.description, "color": c.color}
        for c in selectors.active_categories()
    ]
    return render(
        request,
        "triage/queue.html",
        {**_queue_context(request), "categories": categories, "queues": Queue.objects.all()},
    )


@require_GET
@login_required
@permission_required(CAN_TRIAGE, raise_exception=True)
def queue_rows(request: HttpRequest) -> HttpResponse:
    """The queue's rows alone: pages reload them after a reconnect to catch up."""
    return render(request, "triage/_ticket_list.html", _queue_context(request))


@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    """Liveness for load balancers: the database answers and whether a model serves."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    model = serving.active_model()
    return JsonResponse({"ok": True, "model_version": model.version if model else None})
