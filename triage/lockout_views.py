"""The admins' page of login lockouts, where a lockout is lifted before it expires."""

from __future__ import annotations

from typing import cast

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.contrib.auth.models import User
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from triage import lockouts
from triage.roles import CAN_MANAGE_USERS


@require_http_methods(["GET", "POST"])
@login_required
@permission_required(CAN_MANAGE_USERS, raise_exception=True)
def lockouts_page(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        username = request.POST.get("username", "").strip()
        if username:
            lifted = lockouts.lockout_lift(actor=cast(User, request.user), username=username)
            messages.success(request, f"Lifted {lifted} lockout(s) of {username}." if lifted else "Nothing to lift.")
        return redirect("lockouts")
    context = {"lockouts": lockouts.lockouts_in_force(), "failure_limit": settings.AXES_FAILURE_LIMIT}
    return render(request, "taxonomy/lockouts.html", context)
