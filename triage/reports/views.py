"""Report pages for supervisors and admins: thin views over `pages` and the selectors."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.db.models import Q
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.templatetags.static import static
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from triage.models import Category, QualityCheck, Ticket
from triage.reports import pages, services
from triage.reports.filters import FilterError, ReportFilter, category_from, parse_filter
from triage.reports.selectors import quality, review
from triage.reports.tables import csv_response
from triage.roles import CAN_REVIEW, CAN_VIEW_REPORTS

VENDOR_SCRIPTS = ("vendor/chart.umd.js", "vendor/chartjs-chart-matrix.min.js")


def _vendor_scripts() -> list[str]:
    """URLs of Chart.js and its matrix chart, or [] when `make install` has not copied them."""
    try:
        return [static(path) for path in VENDOR_SCRIPTS]
    except ValueError:  # the manifest does not know the file: it was never collected
        return []


def _bad_filter(request: HttpRequest, error: FilterError, *, as_json: bool) -> HttpResponse:
    if as_json:
        return JsonResponse({"field": error.field, "error": error.message}, status=400)
    return render(
        request,
        "reports/report.html",
        {"error": error, "nav": pages.NAV, "params": request.GET, "categories": pages.category_choices()},
        status=400,
    )


def _page_context(request: HttpRequest, f: ReportFilter, **extra: Any) -> dict[str, Any]:
    return {
        "filter": f,
        "params": f.params(),
        "query": f.querystring(),
        "nav": pages.NAV,
        "categories": pages.category_choices(),
        "vendor_scripts": _vendor_scripts(),
        **extra,
    }


@require_GET
@login_required
@permission_required(CAN_VIEW_REPORTS, raise_exception=True)
def report_page(request: HttpRequest, slug: str = "overview") -> HttpResponse:
    try:
        f = parse_filter(request.GET)
    except FilterError as error:
        return _bad_filter(request, error, as_json=False)
    report = pages.REPORTS[slug](f)
    return render(request, "reports/report.html", _page_context(request, f, report=report))


@require_GET
@login_required
@permission_required(CAN_VIEW_REPORTS, raise_exception=True)
def report_csv(request: HttpRequest, slug: str, table: str) -> HttpResponse:
    try:
        f = parse_filter(request.GET)
    except FilterError as error:
        return _bad_filter(request, error, as_json=True)
    found = pages.REPORTS[slug](f).table(table)
    if found is None:
        return JsonResponse({"field": "table", "error": f"report {slug!r} has no table {table!r}"}, status=404)
    return csv_response(found, f"assist-{slug}-{table}-{f.start}-{f.end}.csv")


@require_GET
@login_required
@permission_required(CAN_VIEW_REPORTS, raise_exception=True)
def confusion_cell(request: HttpRequest) -> HttpResponse:
    """The tickets behind one confusion cell, as a page or (format=json) for the heatmap's click."""
    as_json = request.GET.get("format") == "json"
    try:
        f = parse_filter(request.GET)
        suggested = category_from(request.GET, "suggested", required=True)
        chosen = category_from(request.GET, "chosen", required=True)
    except FilterError as error:
        return _bad_filter(request, error, as_json=as_json)
    facts = list(quality.confusion_tickets(f, suggested=suggested, chosen=chosen))
    if as_json:
        return JsonResponse(
            {
                "suggested": suggested.slug,
                "chosen": chosen.slug,
                "suggested_name": suggested.name,
                "chosen_name": chosen.name,
                "tickets": [
                    {
                        "id": x.ticket_id,
                        "subject": x.ticket.subject or x.ticket.body[:80],
                        "url": reverse("reports-ticket", args=[x.ticket_id]),
                        "agent": x.agent.get_username(),
                        "confidence": x.confidence,
                        "day": x.day.isoformat(),
                    }
                    for x in facts
                ],
            }
        )
    context = _page_context(request, f, suggested=suggested, chosen=chosen, facts=facts)
    return render(request, "reports/cell.html", context)


@require_GET
@login_required
@permission_required(CAN_VIEW_REPORTS, raise_exception=True)
def ticket_detail(request: HttpRequest, ticket_id: int) -> HttpResponse:
    ticket = get_object_or_404(Ticket.objects.select_related("category", "triaged_by"), pk=ticket_id)
    history = review.ticket_history(ticket)
    names = dict(Category.objects.values_list("slug", "name"))
    history["predictions"] = list(history["predictions"])
    for p in history["predictions"]:
        # Alternatives are stored by slug: the page names them.
        p.named_alternatives = [(names.get(a["category"], a["category"]), a["confidence"]) for a in p.alternatives]
    return render(request, "reports/ticket.html", {"ticket": ticket, "nav": pages.NAV, **history})


@require_GET
@login_required
@permission_required(CAN_REVIEW, raise_exception=True)
def review_list(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "reports/review.html",
        {
            "checks": review.quality_checks_pending(),
            "reviewed": review.quality_checks_reviewed(),
            "categories": Category.objects.filter(is_active=True).order_by("name"),
            "nav": pages.NAV,
        },
    )


@require_POST
@login_required
@permission_required(CAN_REVIEW, raise_exception=True)
def review_submit(request: HttpRequest, check_id: int) -> HttpResponse:
    check = get_object_or_404(QualityCheck.objects.select_related("decision"), pk=check_id)
    # An active category, or the one the agent chose: keeping it must work even after
    # an admin retired it.
    category = (
        Category.objects.filter(slug=request.POST.get("category", ""))
        .filter(Q(is_active=True) | Q(pk=check.decision.chosen_id))
        .first()
    )
    if category is None:
        return JsonResponse({"field": "category", "error": "choose an active category"}, status=400)
    try:
        services.quality_check_review(check=check, reviewer=request.user, category=category)
    except services.ReviewError as exc:
        messages.warning(request, str(exc))
    else:
        verdict = "kept" if check.decision.chosen_id == category.pk else f"corrected to {category.name}"
        messages.success(request, f"Ticket #{check.ticket_id}: {verdict}.")
    return redirect("reports-review")
