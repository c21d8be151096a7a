"""The rules page and the queue's auto-triage undo (/taxonomy/...)."""

from __future__ import annotations

from typing import Any, cast

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.contrib.auth.models import User
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from triage import services as triage_services
from triage.models import Category, RoutingRule
from triage.roles import CAN_TRIAGE
from triage.taxonomy import rules
from triage.taxonomy.forms import RuleForm, VersionForm
from triage.taxonomy.views import _attempt, admin_only


def _rules_page(request: HttpRequest, form: RuleForm | None = None, status: int = 200) -> HttpResponse:
    all_rules = list(RoutingRule.objects.select_related("category", "category__parent"))
    stats = rules.rule_stats(all_rules)
    rows = [{"rule": r, "stats": stats[r.pk]} for r in all_rules]
    return render(request, "taxonomy/rules.html", {"rows": rows, "form": form or RuleForm()}, status=status)


def _rule_kwargs(data: dict[str, Any]) -> dict[str, Any]:
    return {k: data[k] for k in ("name", "field", "kind", "pattern", "category", "urgent", "position")}


@require_http_methods(["GET", "POST"])
@login_required
@admin_only
def rules_page(request: HttpRequest) -> HttpResponse:
    if request.method == "GET":
        return _rules_page(request)
    form = RuleForm(request.POST)
    if form.is_valid():
        rule = _attempt(form, lambda: rules.rule_create(actor=request.user, **_rule_kwargs(form.cleaned_data)))
        if rule is not None:
            messages.success(request, f"Rule “{rule.name}” created.")
            return redirect("taxonomy-rules")
    return _rules_page(request, form, status=400)


@require_http_methods(["GET", "POST"])
@login_required
@admin_only
def rule_detail(request: HttpRequest, pk: int) -> HttpResponse:
    rule = get_object_or_404(RoutingRule.objects.select_related("category"), pk=pk)
    status = 200
    if request.method == "POST":
        form = RuleForm(request.POST)
        cast(forms.ModelChoiceField, form.fields["category"]).queryset = Category.objects.all()
        if form.is_valid():
            data = form.cleaned_data
            saved = _attempt(
                form,
                lambda: rules.rule_update(
                    actor=request.user,
                    rule_id=rule.pk,
                    version=data["version"] or 0,
                    is_active=data["is_active"],
                    **_rule_kwargs(data),
                ),
            )
            if saved is not None:
                messages.success(request, f"Rule “{saved.name}” saved.")
                return redirect("taxonomy-rules")
        status = 400
    else:
        form = RuleForm(
            initial={
                **{
                    k: getattr(rule, k) for k in ("name", "field", "kind", "pattern", "urgent", "position", "is_active")
                },
                "category": rule.category_id,
                "version": rule.version,
            }
        )
    delete_form = VersionForm(initial={"version": rule.version})
    return render(
        request, "taxonomy/rule.html", {"rule": rule, "form": form, "delete_form": delete_form}, status=status
    )


@require_POST
@login_required
@admin_only
def rule_delete(request: HttpRequest, pk: int) -> HttpResponse:
    rule = get_object_or_404(RoutingRule, pk=pk)
    form = VersionForm(request.POST)
    if form.is_valid() and _attempt(
        form,
        lambda: rules.rule_delete(actor=request.user, rule_id=rule.pk, version=form.cleaned_data["version"]) or True,
    ):
        messages.success(request, f"Rule “{rule.name}” deleted.")
        return redirect("taxonomy-rules")
    messages.error(request, " ".join(str(e) for e in form.non_field_errors()) or "Not deleted.")
    return redirect("taxonomy-rule", pk=pk)


@require_POST
@login_required
@permission_required(CAN_TRIAGE, raise_exception=True)
def auto_undo(request: HttpRequest, ticket_id: int) -> JsonResponse:
    """Undo an auto-triage from the queue's lane: the ticket goes back to the queue."""
    try:
        triage_services.ticket_auto_undo(ticket_id=ticket_id, agent=cast(User, request.user))
    except triage_services.UndoError as exc:
        return JsonResponse({"detail": str(exc)}, status=409)
    return JsonResponse({"detail": f"Ticket #{ticket_id} is back in the queue."})
