"""Pages. The queue page renders the untriaged tickets; live updates come over /ws/queue/."""

from __future__ import annotations

from urllib.parse import urlencode

from django.conf import settings
from django.contrib.auth.decorators import login_required, permission_required
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from assist.middleware import DATABASE_OUTAGE_ERRORS, RETRY_AFTER_SECONDS
from triage import broadcast, health, selectors, serving
from triage.models import Channel, Queue
from triage.roles import CAN_TRIAGE
from triage.selectors import QueueView
from triage.taxonomy.selectors import recently_auto_triaged


def _queue_context(request: HttpRequest) -> dict[str, object]:
    model = serving.active_model()
    view = selectors.queue_view_parse(request.GET)
    size = settings.QUEUE_PAGE_SIZE
    tickets, matching = selectors.queue_page(limit=size, view=view)
    pages = max(1, -(-matching // size))
    return {
        "tickets": tickets,
        "queue_count": matching,
        "model_version": model.version if model else None,
        "names": selectors.category_names(),
        "view": view,
        "watched": view.queue,
        "pages": pages,
        "previous_page": urlencode(view.params(page=view.page - 1)) if view.page > 1 else None,
        "next_page": urlencode(view.params(page=view.page + 1)) if view.page < pages else None,
        "clear_filters": urlencode(QueueView(queue=view.queue, sort=view.sort).params()),
        "auto_tickets": recently_auto_triaged(queue=view.queue),
    }


@require_GET
@login_required
@permission_required(CAN_TRIAGE, raise_exception=True)
def queue(request: HttpRequest) -> HttpResponse:
    categories = [
        {"slug": c.slug, "name": c.label, "description": c.description, "color": c.color}
        for c in selectors.active_categories()
    ]
    pushed = broadcast.queue_sequence()  # before the rows: see queue.js, "first sync"
    return render(
        request,
        "triage/queue.html",
        {
            "pushed": pushed,
            **_queue_context(request),
            "categories": categories,
            "queues": Queue.objects.all(),
            "channels": Channel.choices,
            "languages": selectors.LANGUAGES,
            "human_choices": selectors.HUMAN,
            "ages": {key: label for key, (label, _, _) in selectors.AGES.items()},
            "sorts": selectors.SORTS,
            "bulk_max": settings.BULK_TRIAGE_MAX_TICKETS,
        },
    )


@require_GET
@login_required
@permission_required(CAN_TRIAGE, raise_exception=True)
def queue_rows(request: HttpRequest) -> HttpResponse:
    """The queue's rows alone, for the view in the query string: pages reload them after
    a reconnect to catch up, and when a change may have moved rows of a sorted or searched view."""
    return render(request, "triage/_ticket_list.html", _queue_context(request))


@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    """Health for load balancers and people: what is down, and which model serves.

    503 when the database is unreachable (nothing can be stored); 200 otherwise, with
    `"ok": false` and `"status": "degraded"` when Redis is down (live updates and the
    task queue wait) or the live model cannot be served here (an earlier one serves).
    """
    problems: list[str] = []
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        database = "ok"
    except DATABASE_OUTAGE_ERRORS as exc:
        database = "down"
        problems.append(f"database unreachable: {str(exc).strip().splitlines()[0] if str(exc).strip() else exc!r}")
    redis = health.redis_status()
    if redis == "down":
        problems.append("Redis unreachable: live updates and background tasks wait")
    # With the database down, report the model already loaded: reading which one is live needs it.
    model = serving.health(refresh=database == "ok")
    if model.degraded:
        problems.append(model.degraded)
    status = "down" if database == "down" else "degraded" if problems else "ok"
    body = {
        "ok": not problems,
        "status": status,
        "database": database,
        "redis": redis,
        "model_version": model.serving_version,
        "problems": problems,
    }
    response = JsonResponse(body, status=503 if database == "down" else 200)
    if database == "down":
        response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response
