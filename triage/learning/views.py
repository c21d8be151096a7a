"""The models page (/models/): versions side by side, live training progress,
retrain, tune, shadow, promote and roll back. Supervisors and admins only."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_POST

from triage import serving
from triage.learning import broadcast, selectors, services
from triage.models import ModelVersion, TrainingRun
from triage.roles import CAN_MANAGE_MODELS


@require_GET
@login_required
@permission_required(CAN_MANAGE_MODELS, raise_exception=True)
def models_page(request: HttpRequest) -> HttpResponse:
    shadow = selectors.shadow_version()
    live = ModelVersion.objects.filter(status=ModelVersion.Status.ACTIVE).first()
    return render(
        request,
        "learning/models.html",
        {
            "versions": selectors.model_versions(),
            "live": live,
            "cache_share": selectors.cache_share(live) if live else None,
            "runs": selectors.training_runs(),
            "open_run": selectors.open_run(),
            "open_tuning": selectors.open_run(TrainingRun.Kind.TUNE),
            "promotions": selectors.promotions(),
            "shadow": selectors.shadow_comparison(shadow) if shadow else None,
            "cache": serving.cache_stats(),
        },
    )


@require_GET
@login_required
@permission_required(CAN_MANAGE_MODELS, raise_exception=True)
def version_detail(request: HttpRequest, number: int) -> HttpResponse:
    version = get_object_or_404(ModelVersion, version=number)
    holdout = version.metrics.get("holdout") or {}
    live = version.metrics.get("active_on_same_holdout") or {}
    rows = []
    for slug, scores in sorted((holdout.get("per_category") or {}).items()):
        old = (live.get("per_category") or {}).get(slug) or {}
        # classification_report names it "f1-score", which a template can't read.
        rows.append({"slug": slug, **scores, "f1_score": scores.get("f1-score"), "live_recall": old.get("recall")})
    confusion = holdout.get("confusion") or {"labels": [], "matrix": []}
    labels = confusion["labels"]
    confused = sorted(
        (
            {"true": labels[i], "predicted": labels[j], "count": count}
            for i, row in enumerate(confusion["matrix"])
            for j, count in enumerate(row)
            if i != j and count
        ),
        key=lambda pair: -pair["count"],
    )[:15]
    return render(
        request,
        "learning/version.html",
        {
            "version": version,
            "holdout": holdout,
            "live": live,
            "per_category": rows,
            "gate": version.metrics.get("gate"),
            "confused": confused,
        },
    )


@require_GET
@login_required
@permission_required(CAN_MANAGE_MODELS, raise_exception=True)
def run_status(request: HttpRequest, run_id: int) -> JsonResponse:
    """One run's progress. The page polls it too: without Redis (the in-memory
    channel layer of `make run`) a worker's pushes can't reach the web process."""
    run = get_object_or_404(TrainingRun.objects.select_related("model_version"), pk=run_id)
    return JsonResponse(broadcast.run_payload(run))


@require_POST
@login_required
@permission_required(CAN_MANAGE_MODELS, raise_exception=True)
def retrain_now(request: HttpRequest) -> HttpResponse:
    kind = TrainingRun.Kind.TUNE if request.POST.get("kind") == "tune" else TrainingRun.Kind.TRAIN
    try:
        run = services.retrain_request(
            trigger=TrainingRun.Trigger.MANUAL,
            reason=f"requested by {request.user.get_username()}",
            user=request.user,
            kind=kind,
        )
    except services.RetrainRunningError as exc:
        messages.warning(request, f"Not started: {exc}.")
    else:
        messages.success(request, f"{run.get_kind_display()} #{run.pk} queued.")
    return redirect("models")


@require_POST
@login_required
@permission_required(CAN_MANAGE_MODELS, raise_exception=True)
def promote(request: HttpRequest, number: int) -> HttpResponse:
    version = get_object_or_404(ModelVersion, version=number)
    try:
        services.model_promote(version=version, user=request.user, reason=request.POST.get("reason", "")[:500])
    except services.PromotionError as exc:
        messages.error(request, f"v{number} was not promoted: {exc}")
    else:
        messages.success(request, f"v{number} is live. Every process serves it within a few seconds.")
    return redirect("models")


@require_POST
@login_required
@permission_required(CAN_MANAGE_MODELS, raise_exception=True)
def shadow(request: HttpRequest, number: int) -> HttpResponse:
    version = get_object_or_404(ModelVersion, version=number)
    on = request.POST.get("on") == "1"
    try:
        services.model_shadow_set(version=version, on=on, user=request.user)
    except services.PromotionError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, f"v{number} {'now predicts in shadow' if on else 'left shadow'}.")
    return redirect("models")
