"""Users and API tokens pages for admins (/taxonomy/users/, /taxonomy/tokens/).

Every form posts to the page it is on: an error re-renders that page (400) at its own
URL, a change redirects back to it (a reload never resubmits). A new password, reset
link or API key is shown once, on the answer to the POST that made it, and is never
stored in clear (responses are marked no-store).
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.contrib.auth.models import User
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.cache import add_never_cache_headers
from django.views.decorators.http import require_http_methods, require_POST

from triage.accounts import selectors, services
from triage.accounts.forms import ROLE_CHOICES, TokenForm, UserCreateForm
from triage.roles import CAN_MANAGE_USERS
from triage.taxonomy import users
from triage.taxonomy.services import TaxonomyError

manages_users = permission_required(CAN_MANAGE_USERS, raise_exception=True)


def _secret_page(request: HttpRequest, template: str, context: dict[str, Any]) -> HttpResponse:
    response = render(request, template, context)
    add_never_cache_headers(response)  # a shown-once secret must not sit in a cache
    return response


def _refusal(form: Any, exc: TaxonomyError) -> None:
    form.add_error(exc.field if exc.field in form.fields else None, exc.message)


def _users_page(
    request: HttpRequest, *, status: int = 200, form: UserCreateForm | None = None, error: str = ""
) -> HttpResponse:
    rows = [{"user": u, "role": users.user_role(u)} for u in selectors.users_with_tokens()]
    context = {"rows": rows, "roles": users.ROLES, "form": form or UserCreateForm(), "error": error}
    return render(request, "taxonomy/users.html", context, status=status)


def _role_change(request: HttpRequest) -> tuple[User | None, str]:
    try:
        user_id = int(request.POST.get("user", ""))
    except ValueError:
        return None, "Choose a user."
    try:
        return users.user_role_set(actor=request.user, user_id=user_id, role=request.POST.get("role", "")), ""
    except TaxonomyError as exc:
        return None, exc.message


@require_http_methods(["GET", "POST"])
@login_required
@manages_users
def users_page(request: HttpRequest) -> HttpResponse:
    """Every account with its role; a new account gets a temporary password, shown once."""
    if request.method == "GET":
        return _users_page(request)
    if "username" in request.POST:
        form = UserCreateForm(request.POST)
        if form.is_valid():
            try:
                user, reset = services.user_create(actor=request.user, **form.cleaned_data)
            except TaxonomyError as exc:
                _refusal(form, exc)
            else:
                return _secret_page(request, "taxonomy/user.html", {**_user_context(user), "reset": reset, "new": True})
        return _users_page(request, status=400, form=form)
    changed, error = _role_change(request)
    if changed is None:
        return _users_page(request, status=400, error=error)
    messages.success(request, f"{changed.get_username()} is now {users.user_role(changed) or 'without a role'}.")
    return redirect("taxonomy-users")


def _user_context(user: User) -> dict[str, Any]:
    return {
        "account": user,
        "role": users.user_role(user),
        "role_choices": ROLE_CHOICES,
        "tokens": selectors.tokens(user),
        "history": selectors.user_history(user),
    }


@require_http_methods(["GET", "POST"])
@login_required
@manages_users
def user_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """One account: role, deactivate or reactivate, reset the password, its API tokens."""
    account = get_object_or_404(User, pk=pk)
    if request.method == "GET":
        return render(request, "taxonomy/user.html", _user_context(account))
    action = request.POST.get("action", "")
    try:
        if action in {"deactivate", "reactivate"}:
            services.user_active_set(actor=request.user, user_id=account.pk, active=action == "reactivate")
            messages.success(request, f"{account.get_username()} {action}d.")
        elif action in {"password-link", "password-temporary"}:
            reset = services.user_password_reset(
                actor=request.user, user_id=account.pk, mode=action.removeprefix("password-")
            )
            return _secret_page(request, "taxonomy/user.html", {**_user_context(reset.user), "reset": reset})
        elif action == "role":
            changed = users.user_role_set(actor=request.user, user_id=account.pk, role=request.POST.get("role", ""))
            messages.success(
                request, f"{changed.get_username()} is now {users.user_role(changed) or 'without a role'}."
            )
        else:
            raise TaxonomyError("__all__", "Choose what to do.")
    except TaxonomyError as exc:
        account.refresh_from_db()
        return render(request, "taxonomy/user.html", {**_user_context(account), "error": exc.message}, status=400)
    return redirect("taxonomy-user", pk=account.pk)


def _tokens_page(
    request: HttpRequest, *, status: int = 200, form: TokenForm | None = None, **extra: Any
) -> HttpResponse:
    form = form or TokenForm(initial={"user": request.GET.get("user", "")})
    context = {
        "tokens": selectors.tokens(),
        "form": form,
        "accounts": User.objects.filter(is_active=True).order_by("username"),
        **extra,
    }
    return render(request, "taxonomy/tokens.html", context, status=status)


@require_http_methods(["GET", "POST"])
@login_required
@manages_users
def tokens_page(request: HttpRequest) -> HttpResponse:
    """Every API token (live and revoked); issuing one shows its key once."""
    if request.method == "GET":
        return _tokens_page(request)
    form = TokenForm(request.POST)
    if form.is_valid():
        try:
            issued = services.api_token_issue(
                actor=request.user, user_id=form.cleaned_data["user"], name=form.cleaned_data["name"]
            )
        except TaxonomyError as exc:
            _refusal(form, exc)
        else:
            response = _tokens_page(request, status=201, form=TokenForm(), issued=issued)
            add_never_cache_headers(response)
            return response
    return _tokens_page(request, status=400, form=form)


@require_POST
@login_required
@manages_users
def token_revoke(request: HttpRequest, pk: int) -> HttpResponse:
    try:
        token = services.api_token_revoke(actor=request.user, token_id=pk)
    except TaxonomyError as exc:
        messages.error(request, exc.message)
        return redirect("taxonomy-tokens")
    messages.success(request, f"Revoked “{token.name}” of {token.user.get_username()}: its key no longer works.")
    back = request.POST.get("next", "")
    return redirect("taxonomy-user", pk=token.user_id) if back == "user" else redirect("taxonomy-tokens")
