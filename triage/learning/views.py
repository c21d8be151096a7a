"""The models page (/models/): versions side by side, live training progress,
retrain, tune, shadow, promote and roll back, the nightly retrain's time.
Supervisors and admins; only admins set the nightly time."""

from __future__ import annotations

from datetime import datetime, time
from zoneinfo import ZoneInfo

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from triage import serving
from triage.learning import broadcast, promotion, selectors, services, triggers
from triage.learning.scores import version_scores
from triage.models import ModelVersion, TrainingRun
from triage.roles import CAN_MANAGE_MODELS, CAN_MANAGE_TAXONOMY


class NightlyRetrainForm(forms.Form):
    at = forms.TimeField(label="Time", input_formats=["%H:%M"])
    enabled = forms.BooleanField(label="Retrain every night", required=False)


@require_GET
@login_required
@permission_required(CAN_MANAGE_MODELS, raise_exception=True)
def models_page(request: HttpRequest) -> HttpResponse:
    shadow = selectors.shadow_version()
    live = ModelVersion.objects.live()
    nightly = selectors.nightly_retrain()
    return render(
        request,
        "learning/models.html",
        {
            "versions": [(v, version_scores(v)) for v in selectors.model_versions()],
            "live": live,
            "cache_share": selectors.cache_share(live) if live else None,
            "runs": selectors.training_runs(),
            "open_run": selectors.open_run(),
            "open_tuning": selectors.open_run(TrainingRun.Kind.TUNE),
            "promotions": selectors.promotions(),
            "shadow": selectors.shadow_comparison(shadow) if shadow else None,
            "cache": serving.cache_stats(),
            "nightly": nightly,
            "time_zone": settings.TIME_ZONE,
            "nightly_form": NightlyRetrainForm(
                initial={"at": _local_time(nightly), "enabled": bool(nightly and nightly.enabled)}
            ),
        },
    )


def _local_time(nightly: selectors.NightlyRetrain | None) -> time | None:
    """The nightly time in TIME_ZONE, where the form saves it (today's offsets)."""
    if nightly is None or nightly.at is None:
        return None
    at = datetime.combine(timezone.localdate(), nightly.at, tzinfo=ZoneInfo(nightly.timezone))
    return at.astimezone(ZoneInfo(settings.TIME_ZONE)).time()


@require_GET
@login_required
@permission_required(CAN_MANAGE_MODELS, raise_exception=True)
def version_detail(request: HttpRequest, number: int) -> HttpResponse:
    version = get_object_or_404(ModelVersion, version=number)
    scores = version_scores(version)
    rows = []
    for slug, own in sorted(scores.holdout.per_category.items()):
        # On the comparison tickets: this version's recall and the live model's.
        same = scores.candidate.per_category.get(slug) or {} if scores.compared else {}
        old = scores.live.per_category.get(slug) or {}
        # classification_report names it "f1-score", which a template can't read.
        rows.append(
            {
                "slug": slug,
                **own,
                "f1_score": own.get("f1-score"),
                "same_recall": same.get("recall"),
                "live_recall": old.get("recall"),
            }
        )
    confusion = scores.holdout.confusion
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
            "scores": scores,
            "per_category": rows,
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
        promotion.model_promote(version=version, user=request.user, reason=request.POST.get("reason", "")[:500])
    except promotion.PromotionError as exc:
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
        promotion.model_shadow_set(version=version, on=on, user=request.user)
    except promotion.PromotionError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, f"v{number} {'now predicts in shadow' if on else 'left shadow'}.")
    return redirect("models")


@require_POST
@login_required
@permission_required(CAN_MANAGE_TAXONOMY, raise_exception=True)
def nightly_retrain_save(request: HttpRequest) -> HttpResponse:
    form = NightlyRetrainForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Nightly retrain not changed: give the time as hours and minutes, e.g. 02:30.")
        return redirect("models")
    change = triggers.nightly_retrain_set(
        actor=request.user, at=form.cleaned_data["at"], enabled=form.cleaned_data["enabled"]
    )
    if change is not None:
        messages.success(request, f"{change.summary}.")
    return redirect("models")
