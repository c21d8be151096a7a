"""The taxonomy pages (/taxonomy/): thin views that validate a form, call a service
and render. Every form posts to the page it is on: a refused change re-renders that
page with the message (status 400) at its own URL; a change redirects back (PRG)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods

from triage.learning.scores import version_scores
from triage.models import Category, ModelVersion, RoutingRule, Split
from triage.roles import CAN_MANAGE_TAXONOMY, CAN_REVIEW
from triage.taxonomy import merge, names, policy, queues, selectors, services, split
from triage.taxonomy.forms import (
    CategoryForm,
    MergeForm,
    PrecisionForm,
    QueueEditForm,
    QueueForm,
    SplitForm,
    ThresholdForm,
    VersionForm,
    parse_share,
)

PREVIEW_THRESHOLDS = [0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99]

admin_only = permission_required(CAN_MANAGE_TAXONOMY, raise_exception=True)


def _attempt(form: forms.Form, call: Callable[[], Any]) -> Any:
    """Run a service; a refusal becomes a form error on the field it names."""
    try:
        return call()
    except services.TaxonomyError as exc:
        form.add_error(exc.field if exc.field in form.fields else None, exc.message)
        return None


def _overview(request: HttpRequest, status: int = 200, **forms_: forms.Form) -> HttpResponse:
    counts = selectors.confirmed_counts()
    categories = selectors.category_rows()
    for c in categories:
        c.examples = counts.get(c.pk, 0)  # type: ignore[attr-defined]
    context = {
        "categories": categories,
        "create_form": forms_.get("create_form") or CategoryForm(),
        "queue_form": forms_.get("queue_form") or QueueForm(),
        "queue_edit_form": forms_.get("queue_edit_form"),
        "queues": selectors.queues(),
        "history": selectors.history(limit=100),
        "splits": selectors.open_splits(),
        "min_examples": settings.TAXONOMY_MIN_EXAMPLES,
        **_precision_context(forms_.get("precision_form")),
    }
    return render(request, "taxonomy/index.html", context, status=status)


def _precision_context(form: forms.Form | None) -> dict[str, Any]:
    chosen = policy.target_precision()
    live = ModelVersion.objects.live()
    abstention = version_scores(live).holdout.abstention if live else {}
    return {
        "precision_form": form or PrecisionForm(initial={"target_precision": f"{chosen * 100:g}"}),
        "target_precision": chosen,
        "default_precision": settings.TARGET_PRECISION,
        "live_model": live,
        "live_precision": abstention.get("target_precision"),
    }


def _similar_names_check(form: CategoryForm, exclude: int | None = None) -> bool:
    """True when the name may be saved: nothing reads like it, or the admin confirmed."""
    if form.cleaned_data.get("confirm_similar"):
        return True
    similar = names.similar_names(form.cleaned_data["name"], exclude=exclude)
    if similar:
        form.ask_to_confirm(similar)
    return not similar


def _category_create(request: HttpRequest) -> HttpResponse:
    form = CategoryForm(request.POST)
    if form.is_valid() and _similar_names_check(form):
        data = form.cleaned_data
        category = _attempt(
            form,
            lambda: services.category_create(
                actor=request.user,
                name=data["name"],
                slug=data["slug"],
                description=data["description"],
                color=data["color"],
                parent=data["parent"],
                queue=data["queue"],
                urgent=data["urgent"],
            ),
        )
        if category is not None:
            messages.success(request, f"Created “{category.label}”.")
            return redirect("taxonomy")
    return _overview(request, status=400, create_form=form)


def _queue_create(request: HttpRequest) -> HttpResponse:
    form = QueueForm(request.POST)
    if form.is_valid() and _attempt(form, lambda: services.queue_create(actor=request.user, **form.cleaned_data)):
        messages.success(request, f"Created queue “{form.cleaned_data['name']}”.")
        return redirect(reverse("taxonomy") + "#queues")
    return _overview(request, status=400, queue_form=form)


def _queue_edit(request: HttpRequest, action: str) -> HttpResponse:
    form = QueueEditForm(request.POST)
    if form.is_valid():
        data = form.cleaned_data
        if action == "queue-delete":
            name = _attempt(form, lambda: queues.queue_delete(actor=request.user, queue_id=data["queue"]))
            done = f"Deleted queue “{name}”."
        else:
            queue = _attempt(
                form, lambda: queues.queue_rename(actor=request.user, queue_id=data["queue"], name=data["name"])
            )
            done = f"Renamed the queue “{queue.name}”." if queue is not None else ""
        if not form.errors:
            messages.success(request, done)
            return redirect(reverse("taxonomy") + "#queues")
    return _overview(request, status=400, queue_edit_form=form)


def _precision_set(request: HttpRequest) -> HttpResponse:
    form = PrecisionForm(request.POST)
    if form.is_valid():
        value = form.cleaned_data["target_precision"]
        change = _attempt(form, lambda: policy.target_precision_set(actor=request.user, value=value))
        if not form.errors:
            if change is not None:
                messages.success(request, f"{change.summary}. A retrain is queued: the next model follows it.")
            return redirect(reverse("taxonomy") + "#precision")
    return _overview(request, status=400, precision_form=form)


INDEX_ACTIONS: dict[str, Callable[[HttpRequest], HttpResponse]] = {
    "create": _category_create,
    "queue-create": _queue_create,
    "queue-rename": lambda request: _queue_edit(request, "queue-rename"),
    "queue-delete": lambda request: _queue_edit(request, "queue-delete"),
    "precision": _precision_set,
}


@require_http_methods(["GET", "POST"])
@login_required
@admin_only
def index(request: HttpRequest) -> HttpResponse:
    """The taxonomy page. Each of its forms posts here with its `action`: a refusal
    re-renders this page (400) at this URL, a change redirects back to it."""
    if request.method == "GET":
        return _overview(request)
    handler = INDEX_ACTIONS.get(request.POST.get("action", "create"))
    if handler is None:
        messages.error(request, "Unknown action.")
        return _overview(request, status=400)
    return handler(request)


def _detail(request: HttpRequest, category: Category, status: int = 200, **forms_: forms.Form) -> HttpResponse:
    initial = {
        "name": category.name,
        "slug": category.slug,
        "description": category.description,
        "color": category.color,
        "parent": category.parent_id,
        "queue": category.queue_id,
        "urgent": category.urgent,
        "version": category.version,
    }
    version = {"version": category.version}
    threshold = "" if category.auto_threshold is None else f"{category.auto_threshold * 100:g}"
    merge_form = forms_.get("merge_form") or MergeForm(initial=version)
    cast(forms.ModelChoiceField, merge_form.fields["target"]).queryset = Category.objects.filter(
        is_active=True
    ).exclude(pk=category.pk)
    context = {
        "category": category,
        "examples": selectors.confirmed_counts().get(category.pk, 0),
        "edit_form": forms_.get("edit_form") or CategoryForm(initial=initial),
        "threshold_form": forms_.get("threshold_form") or ThresholdForm(initial={**version, "threshold": threshold}),
        "merge_form": merge_form,
        "split_form": forms_.get("split_form") or SplitForm(initial=version),
        "state_form": forms_.get("state_form") or VersionForm(initial=version),
        "preview": selectors.threshold_preview(category, PREVIEW_THRESHOLDS),
        "history": selectors.history(limit=50, category=category),
        "rules": RoutingRule.objects.filter(category=category),
    }
    return render(request, "taxonomy/category.html", context, status=status)


def _category_edit(request: HttpRequest, category: Category) -> HttpResponse:
    form = CategoryForm(request.POST)
    if form.is_valid() and (
        form.cleaned_data["name"].casefold() == category.name.casefold() or _similar_names_check(form, category.pk)
    ):
        data = form.cleaned_data
        updated = _attempt(
            form,
            lambda: services.category_update(
                actor=request.user,
                category_id=category.pk,
                version=data["version"] or 0,
                name=data["name"],
                slug=data["slug"],
                description=data["description"],
                color=data["color"],
                parent=data["parent"],
                queue=data["queue"],
                urgent=data["urgent"],
            ),
        )
        if updated is not None:
            messages.success(request, f"Saved “{updated.label}”.")
            return redirect("taxonomy-category", pk=category.pk)
    category.refresh_from_db()
    return _detail(request, category, status=400, edit_form=form)


def _category_split(request: HttpRequest, category: Category) -> HttpResponse:
    form = SplitForm(request.POST)
    if form.is_valid():
        made = _attempt(
            form,
            lambda: split.category_split(
                actor=request.user,
                source_id=category.pk,
                version=form.cleaned_data["version"],
                new_names=form.cleaned_data["new_names"].splitlines(),
            ),
        )
        if made is not None:
            messages.success(request, f"Split “{category.name}”: confirm the relabel list.")
            return redirect("taxonomy-split", pk=made.pk)
    category.refresh_from_db()
    return _detail(request, category, status=400, split_form=form)


# action -> (form, its name in the page, the service call, the message on success)
CATEGORY_ACTIONS: dict[str, tuple[type[forms.Form], str, Callable[[Any, Category, dict[str, Any]], Any], str]] = {
    "retire": (
        VersionForm,
        "state_form",
        lambda user, c, d: services.category_retire(actor=user, category_id=c.pk, version=d["version"]),
        "Retired “{name}”: no new suggestions go to it.",
    ),
    "restore": (
        VersionForm,
        "state_form",
        lambda user, c, d: services.category_restore(actor=user, category_id=c.pk, version=d["version"]),
        "Restored “{name}”.",
    ),
    "threshold": (
        ThresholdForm,
        "threshold_form",
        lambda user, c, d: services.category_threshold_set(
            actor=user, category_id=c.pk, version=d["version"], threshold=d["threshold"]
        ),
        "Saved the auto-triage threshold of “{name}”.",
    ),
    "merge": (
        MergeForm,
        "merge_form",
        lambda user, c, d: merge.category_merge(
            actor=user, source_id=c.pk, target_id=d["target"].pk, source_version=d["version"]
        ),
        "Merged “{name}”; a retrain is queued.",
    ),
}


def _category_post(request: HttpRequest, category: Category, action: str) -> HttpResponse:
    if action == "edit":
        return _category_edit(request, category)
    if action == "split":
        return _category_split(request, category)
    if action not in CATEGORY_ACTIONS:
        messages.error(request, "Unknown action.")
        return _detail(request, category, status=400)
    form_class, form_name, call, done = CATEGORY_ACTIONS[action]
    form = form_class(request.POST)
    if form.is_valid() and _attempt(form, lambda: call(request.user, category, form.cleaned_data)) is not None:
        messages.success(request, done.format(name=category.label))
        return redirect("taxonomy-category", pk=category.pk)
    category.refresh_from_db()
    return _detail(request, category, status=400, **{form_name: form})


@require_http_methods(["GET", "POST"])
@login_required
@admin_only
def category_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """A category's page. Its forms (edit, threshold, merge, split, retire, restore)
    post here with their `action`: a refusal re-renders this page at this URL."""
    category = get_object_or_404(Category.objects.select_related("parent", "queue", "merged_into"), pk=pk)
    if request.method == "GET":
        return _detail(request, category)
    return _category_post(request, category, request.POST.get("action", "edit"))


@require_GET
@login_required
@admin_only
def threshold_preview(request: HttpRequest, pk: int) -> JsonResponse:
    category = get_object_or_404(Category, pk=pk)
    try:
        value = services.parse_threshold(
            parse_share(request.GET.get("threshold", ""), field="threshold", what="threshold")
        )
    except forms.ValidationError as exc:
        return JsonResponse({"threshold": exc.messages}, status=400)
    except services.TaxonomyError as exc:
        return JsonResponse({exc.field: [exc.message]}, status=400)
    if value is None:
        return JsonResponse({"threshold": ["Give a threshold from 0 to 100 %."]}, status=400)
    outcome = selectors.threshold_preview(category, [value])[0]
    return JsonResponse(
        {
            "threshold": value,
            "decisions": outcome.decisions,
            "covered": outcome.covered,
            "correct": outcome.correct,
            "coverage": outcome.coverage,
            "precision": outcome.precision,
        }
    )


@require_GET
@login_required
@permission_required(CAN_REVIEW, raise_exception=True)
def splits_list(request: HttpRequest) -> HttpResponse:
    """Splits and how much of each relabel list is left: where supervisors start."""
    return render(request, "taxonomy/splits.html", {"splits": selectors.open_splits()})


@require_http_methods(["GET", "POST"])
@login_required
@permission_required(CAN_REVIEW, raise_exception=True)
def split_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """The relabel list of a split: guesses shown, supervisors confirm in bulk."""
    the_split = get_object_or_404(Split.objects.select_related("source"), pk=pk)
    error = ""
    status = 200
    if request.method == "POST":
        if "refresh" in request.POST:
            split.split_refresh_guesses(split_id=the_split.pk)
            return redirect("taxonomy-split", pk=pk)
        choices: dict[int, int] = {}
        try:
            for raw in request.POST.getlist("item"):
                item_id = int(raw)
                choice = int(request.POST.get(f"choice-{item_id}", ""))
                if not (0 < item_id < 2**31 and 0 < choice < 2**31):
                    raise ValueError("not an id")
                choices[item_id] = choice
            count = split.split_confirm(actor=request.user, split_id=the_split.pk, choices=choices)
        except ValueError:
            error, status = "Choose a category for every selected ticket.", 400
        except services.TaxonomyError as exc:
            error, status = exc.message, 400
        else:
            messages.success(request, f"Relabelled {count} tickets; a retrain is queued.")
            return redirect("taxonomy-split", pk=pk)
    items = list(split.split_items(the_split))
    targets = selectors.split_choices(the_split)
    # A guess at a target merged away since preselects the category it lives on in.
    ends = selectors.merge_ends({c.pk: c for c in Category.objects.all()})
    for item in items:
        item.preselect = ends[item.guess_id].pk if item.guess_id else None  # type: ignore[attr-defined]
    made = list(the_split.targets.order_by("pk"))
    target_ids = {t.pk for t in targets}
    context = {
        "split": the_split,
        "made": made,
        "moved": {t.pk for t in made} != target_ids,
        "targets": targets,
        # A guess at a target retired since preselects nothing: the supervisor chooses.
        "target_ids": target_ids,
        "pending": [i for i in items if i.chosen_id is None],
        "done": [i for i in items if i.chosen_id is not None],
        "error": error,
    }
    return render(request, "taxonomy/split.html", context, status=status)
