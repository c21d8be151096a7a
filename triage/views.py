"""Pages. The queue page renders the untriaged tickets; live updates come over /ws/queue/."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.decorators import login_required, permission_required
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from assist.middleware import DATABASE_OUTAGE_ERRORS, RETRY_AFTER_SECONDS
from triage import health, selectors, serving
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
