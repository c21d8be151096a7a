"""Django's own pages, hardened: the anonymous password-reset form is rate-limited."""

from __future__ import annotations

import math
from typing import Any

from django.conf import settings
from django.contrib.auth.views import PasswordResetView
from django.http import HttpRequest, HttpResponse

from assist.ratelimit import hit


class ThrottledPasswordResetView(PasswordResetView):
    """At most PASSWORD_RESETS_PER_HOUR requests an hour from one address: the form sends
    mail to whatever address is typed, so unthrottled it is a mail cannon and a way to
    probe which addresses have accounts."""

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        address = request.META.get("REMOTE_ADDR", "")
        wait = hit(f"password-reset:{address}", limit=settings.PASSWORD_RESETS_PER_HOUR, window_seconds=3600)
        if wait is None:
            return super().post(request, *args, **kwargs)
        form = self.get_form()
        form.add_error(None, "Too many password-reset requests from this address. Try again later.")
        response = self.render_to_response(self.get_context_data(form=form), status=429)
        response["Retry-After"] = str(math.ceil(wait))
        return response
