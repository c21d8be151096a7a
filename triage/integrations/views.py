"""The integrations pages (/integrations/, admins) and the helpdesks' webhook
(/api/integrations/<slug>/, signed by the sender)."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.core.exceptions import RequestDataTooBig
from django.forms import Form
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods, require_POST

from triage.integrations import selectors, services
from triage.integrations.crypto import CredentialError, credential_decrypt
from triage.integrations.forms import EndpointForm, HelpdeskForm, MailboxForm, ResendSinceForm, SourceLinkForm
from triage.integrations.helpdesks import BadPayload, Refused, helpdesk_receive
from triage.integrations.imap import ImapProblem, connection_test
from triage.integrations.mail import mailbox_settings
from triage.integrations.models import Delivery, HelpdeskIntegration, Mailbox, WebhookEndpoint
from triage.roles import CAN_MANAGE_INTEGRATIONS

# "Test connection" answers within this, whatever the mailbox's poll timeout.
TEST_TIMEOUT_SECONDS = 10.0


def admin_only(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    @wraps(view)
    @login_required
    @permission_required(CAN_MANAGE_INTEGRATIONS, raise_exception=True)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        return view(request, *args, **kwargs)

    return wrapped


def _attempt(form: Form, action: Callable[[], Any]) -> Any:
    """Run a service; its IntegrationError becomes the named field's error."""
    try:
        return action()
    except services.IntegrationError as exc:
        form.add_error(exc.field if exc.field in form.fields else None, exc.message)
        return None


@require_http_methods(["GET"])
@admin_only
def index(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "integrations/index.html",
        {
            "mailboxes": selectors.mailboxes(),
            "helpdesks": selectors.helpdesks(),
            "endpoints": selectors.endpoints(),
            "links": selectors.api_source_links(),
            "link_form": SourceLinkForm(),
            "alerts": selectors.alerts(),
        },
    )


@require_POST
@admin_only
def source_link(request: HttpRequest) -> HttpResponse:
    form = SourceLinkForm(request.POST)
    if form.is_valid() and _attempt(
        form,
        lambda: services.source_link_set(source=form.cleaned_data["source"], template=form.cleaned_data["template"])
        or True,
    ):
        messages.success(request, f"Link of source “{form.cleaned_data['source']}” saved.")
    else:
        messages.error(request, " ".join(str(e) for errors in form.errors.values() for e in errors))
    return redirect("integrations")


def _mailbox_kwargs(form: MailboxForm) -> dict[str, Any]:
    data = form.cleaned_data
    return {k: data[k] for k in MailboxForm.base_fields}


@require_http_methods(["GET", "POST"])
@admin_only
def mailbox_new(request: HttpRequest) -> HttpResponse:
    form = MailboxForm(request.POST or None, initial={"poll_seconds": settings.MAIL_POLL_SECONDS})
    if request.method == "POST" and form.is_valid():
        mailbox = _attempt(form, lambda: services.mailbox_save(actor=request.user, **_mailbox_kwargs(form)))
        if mailbox is not None:
            messages.success(request, f"Mailbox “{mailbox.name}” added: it is polled every {mailbox.poll_seconds} s.")
            return redirect("integrations-mailbox", mailbox_id=mailbox.pk)
    status = 400 if request.method == "POST" else 200
    return render(request, "integrations/mailbox.html", {"form": form, "mailbox": None}, status=status)


@require_http_methods(["GET", "POST"])
@admin_only
def mailbox_detail(request: HttpRequest, mailbox_id: int) -> HttpResponse:
    mailbox = get_object_or_404(Mailbox.objects.select_related("queue"), pk=mailbox_id)
    if request.method == "POST":
        form = MailboxForm(request.POST)
        if form.is_valid():
            saved = _attempt(
                form,
                lambda: services.mailbox_save(actor=request.user, mailbox_id=mailbox.pk, **_mailbox_kwargs(form)),
            )
            if saved is not None:
                messages.success(request, f"Mailbox “{saved.name}” saved.")
                return redirect("integrations-mailbox", mailbox_id=mailbox.pk)
        status = 400
    else:
        fields = [f for f in MailboxForm.base_fields if f not in {"password", "link_template", "queue"}]
        initial = {f: getattr(mailbox, f) for f in fields}
        initial.update(queue=mailbox.queue_id, link_template=selectors.link_template(mailbox.source))
        form, status = MailboxForm(initial=initial), 200
    context = {"form": form, "mailbox": mailbox, "skips": selectors.mailbox_skips(mailbox)}
    return render(request, "integrations/mailbox.html", context, status=status)


@require_POST
@admin_only
def mailbox_test(request: HttpRequest) -> JsonResponse:
    """Try the settings on the form (saved or not): which step failed, exactly."""
    form = MailboxForm(request.POST)
    if not form.is_valid():
        return JsonResponse({"ok": False, "step": "form", "errors": form.errors.get_json_data()}, status=400)
    mailbox_id = request.POST.get("mailbox", "")
    saved = Mailbox.objects.filter(pk=int(mailbox_id)).first() if mailbox_id.isdigit() else None
    try:
        password = form.cleaned_data["password"] or (credential_decrypt(saved.password_encrypted) if saved else "")
    except CredentialError as exc:
        return JsonResponse({"ok": False, "step": "password", "message": str(exc)})
    if not password:
        return JsonResponse(
            {"ok": False, "step": "form", "errors": {"password": [{"message": "Enter it."}]}}, status=400
        )
    probe = Mailbox(**{k: v for k, v in _mailbox_kwargs(form).items() if k not in {"password", "link_template"}})
    try:
        message = connection_test(mailbox_settings(probe, password=password), timeout=TEST_TIMEOUT_SECONDS)
    except ImapProblem as exc:
        return JsonResponse({"ok": False, "step": exc.step, "message": exc.message})
    return JsonResponse({"ok": True, "step": "", "message": message})


@require_POST
@admin_only
def mailbox_poll_now(request: HttpRequest, mailbox_id: int) -> HttpResponse:
    mailbox = get_object_or_404(Mailbox, pk=mailbox_id)
    Mailbox.objects.filter(pk=mailbox.pk).update(next_poll_at=None)
    messages.success(request, f"“{mailbox.name}” is polled within seconds.")
    return redirect("integrations-mailbox", mailbox_id=mailbox.pk)


@require_POST
@admin_only
def mailbox_delete(request: HttpRequest, mailbox_id: int) -> HttpResponse:
    mailbox = get_object_or_404(Mailbox, pk=mailbox_id)
    services.mailbox_delete(actor=request.user, mailbox_id=mailbox.pk)
    messages.success(request, f"Mailbox “{mailbox.name}” removed; its tickets stay.")
    return redirect("integrations")


def _helpdesk_kwargs(form: HelpdeskForm) -> dict[str, Any]:
    data = form.cleaned_data
    return {
        "name": data["name"],
        "kind": data["kind"],
        "secret": data["secret"],
        "mapping": form.mapping(),
        "queue": data["queue"],
        "channel": data["channel"],
        "enabled": data["enabled"],
        "link_template": data["link_template"],
    }


@require_http_methods(["GET", "POST"])
@admin_only
def helpdesk_new(request: HttpRequest) -> HttpResponse:
    form = HelpdeskForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        helpdesk = _attempt(form, lambda: services.helpdesk_save(actor=request.user, **_helpdesk_kwargs(form)))
        if helpdesk is not None:
            messages.success(request, f"“{helpdesk.name}” receives tickets at /api/integrations/{helpdesk.slug}/.")
            return redirect("integrations-helpdesk", helpdesk_id=helpdesk.pk)
    status = 400 if request.method == "POST" else 200
    return render(request, "integrations/helpdesk.html", {"form": form, "helpdesk": None}, status=status)


@require_http_methods(["GET", "POST"])
@admin_only
def helpdesk_detail(request: HttpRequest, helpdesk_id: int) -> HttpResponse:
    helpdesk = get_object_or_404(HelpdeskIntegration, pk=helpdesk_id)
    if request.method == "POST":
        form = HelpdeskForm(request.POST)
        form.fields["kind"].required = False
        if form.is_valid():
            kwargs = {**_helpdesk_kwargs(form), "kind": helpdesk.kind}
            saved = _attempt(
                form, lambda: services.helpdesk_save(actor=request.user, helpdesk_id=helpdesk.pk, **kwargs)
            )
            if saved is not None:
                messages.success(request, f"“{saved.name}” saved.")
                return redirect("integrations-helpdesk", helpdesk_id=helpdesk.pk)
        status = 400
    else:
        initial = {
            "name": helpdesk.name,
            "kind": helpdesk.kind,
            "queue": helpdesk.queue_id,
            "channel": helpdesk.channel,
            "enabled": helpdesk.enabled,
            "link_template": selectors.link_template(helpdesk.source),
            **{f"map_{k}": v for k, v in helpdesk.mapping.items()},
        }
        form, status = HelpdeskForm(initial=initial), 200
    return render(request, "integrations/helpdesk.html", {"form": form, "helpdesk": helpdesk}, status=status)


@require_POST
@admin_only
def helpdesk_secret(request: HttpRequest, helpdesk_id: int) -> HttpResponse:
    """Reveal the secret to give the sender, or make a new one."""
    helpdesk = get_object_or_404(HelpdeskIntegration, pk=helpdesk_id)
    if request.POST.get("action") == "rotate":
        try:
            secret = services.helpdesk_secret_rotate(actor=request.user, helpdesk_id=helpdesk.pk)
        except services.IntegrationError as exc:
            messages.error(request, exc.message)
            return redirect("integrations-helpdesk", helpdesk_id=helpdesk.pk)
    elif helpdesk.kind == HelpdeskIntegration.Kind.ZENDESK:
        messages.error(request, "Zendesk's signing secret is write-only here: Zendesk shows it.")
        return redirect("integrations-helpdesk", helpdesk_id=helpdesk.pk)
    else:
        secret = selectors.helpdesk_secret(helpdesk)
    form = HelpdeskForm(initial={"name": helpdesk.name, "kind": helpdesk.kind})
    context = {"form": form, "helpdesk": helpdesk, "secret": secret}
    return render(request, "integrations/helpdesk.html", context)


@require_POST
@admin_only
def helpdesk_delete(request: HttpRequest, helpdesk_id: int) -> HttpResponse:
    helpdesk = get_object_or_404(HelpdeskIntegration, pk=helpdesk_id)
    services.helpdesk_delete(actor=request.user, helpdesk_id=helpdesk.pk)
    messages.success(request, f"“{helpdesk.name}” removed; its tickets stay.")
    return redirect("integrations")


def _endpoint_page(
    request: HttpRequest, endpoint: WebhookEndpoint, form: EndpointForm | None = None, **extra: Any
) -> HttpResponse:
    status = extra.pop("status", 200)
    context = {
        "endpoint": endpoint,
        "form": form or EndpointForm(initial={"name": endpoint.name, "url": endpoint.url, "events": endpoint.events}),
        "attempts": selectors.endpoint_attempts(endpoint),
        "problems": selectors.endpoint_problem_deliveries(endpoint),
        "resend_form": ResendSinceForm(initial={"since": timezone.localtime().replace(second=0, microsecond=0)}),
        "counts": selectors.endpoints().get(pk=endpoint.pk),
        **extra,
    }
    return render(request, "integrations/endpoint.html", context, status=status)


@require_http_methods(["GET", "POST"])
@admin_only
def endpoint_new(request: HttpRequest) -> HttpResponse:
    form = EndpointForm(request.POST or None, initial={"events": ["ticket.triaged"]})
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        saved = _attempt(
            form,
            lambda: services.endpoint_save(
                actor=request.user, name=data["name"], url=data["url"], events=data["events"]
            ),
        )
        if saved is not None:
            endpoint, _ = saved
            messages.success(
                request,
                f"Endpoint “{endpoint.name}” registered: “Show the signing secret” gives its receiver's secret.",
            )
            return redirect("integrations-endpoint", endpoint_id=endpoint.pk)
    status = 400 if request.method == "POST" else 200
    return render(request, "integrations/endpoint_new.html", {"form": form}, status=status)


@require_http_methods(["GET", "POST"])
@admin_only
def endpoint_detail(request: HttpRequest, endpoint_id: int) -> HttpResponse:
    endpoint = get_object_or_404(WebhookEndpoint, pk=endpoint_id)
    if request.method == "GET":
        return _endpoint_page(request, endpoint)
    form = EndpointForm(request.POST)
    if form.is_valid():
        data = form.cleaned_data
        saved = _attempt(
            form,
            lambda: services.endpoint_save(
                actor=request.user, endpoint_id=endpoint.pk, name=data["name"], url=data["url"], events=data["events"]
            ),
        )
        if saved is not None:
            messages.success(request, f"Endpoint “{saved[0].name}” saved.")
            return redirect("integrations-endpoint", endpoint_id=endpoint.pk)
    return _endpoint_page(request, endpoint, form, status=400)


@require_POST
@admin_only
def endpoint_secret(request: HttpRequest, endpoint_id: int) -> HttpResponse:
    endpoint = get_object_or_404(WebhookEndpoint, pk=endpoint_id)
    if request.POST.get("action") == "rotate":
        secret = services.endpoint_secret_rotate(actor=request.user, endpoint_id=endpoint.pk)
        messages.warning(request, "A new signing secret: update the receiver now; the old one no longer verifies.")
    else:
        secret = selectors.endpoint_secret(endpoint)
    return _endpoint_page(request, endpoint, secret=secret)


@require_POST
@admin_only
def endpoint_test(request: HttpRequest, endpoint_id: int) -> HttpResponse:
    endpoint = get_object_or_404(WebhookEndpoint, pk=endpoint_id)
    event = services.endpoint_test_event(actor=request.user, endpoint_id=endpoint.pk)
    messages.success(request, f"Test event {event.event_id} sent: its attempt shows in the log below.")
    return redirect("integrations-endpoint", endpoint_id=endpoint.pk)


@require_POST
@admin_only
def endpoint_enable(request: HttpRequest, endpoint_id: int) -> HttpResponse:
    endpoint = get_object_or_404(WebhookEndpoint, pk=endpoint_id)
    on = request.POST.get("enabled") == "1"
    services.endpoint_enable(actor=request.user, endpoint_id=endpoint.pk, enabled=on)
    messages.success(request, f"“{endpoint.name}” {'enabled: waiting events go out now' if on else 'disabled'}.")
    return redirect("integrations-endpoint", endpoint_id=endpoint.pk)


@require_POST
@admin_only
def endpoint_resend(request: HttpRequest, endpoint_id: int) -> HttpResponse:
    """Send again everything since a time."""
    endpoint = get_object_or_404(WebhookEndpoint, pk=endpoint_id)
    form = ResendSinceForm(request.POST)
    if form.is_valid():
        since = form.cleaned_data["since"]
        count = _attempt(
            form, lambda: services.deliveries_resend_since(actor=request.user, endpoint_id=endpoint.pk, since=since)
        )
        if count is not None:
            messages.success(request, f"{count} events since {since:%Y-%m-%d %H:%M} are sent again.")
            return redirect("integrations-endpoint", endpoint_id=endpoint.pk)
    return _endpoint_page(request, endpoint, resend_form=form, status=400)


@require_POST
@admin_only
def delivery_resend(request: HttpRequest, delivery_id: int) -> HttpResponse:
    delivery = get_object_or_404(Delivery.objects.select_related("event"), pk=delivery_id)
    services.delivery_resend(actor=request.user, delivery_id=delivery.pk)
    messages.success(request, f"Event {delivery.event.event_id} is sent again.")
    return redirect("integrations-endpoint", endpoint_id=delivery.endpoint_id)


@require_POST
@admin_only
def endpoint_delete(request: HttpRequest, endpoint_id: int) -> HttpResponse:
    endpoint = get_object_or_404(WebhookEndpoint, pk=endpoint_id)
    services.endpoint_delete(actor=request.user, endpoint_id=endpoint.pk)
    messages.success(request, f"Endpoint “{endpoint.name}” removed.")
    return redirect("integrations")


@csrf_exempt
@require_POST
def helpdesk_webhook(request: HttpRequest, slug: str) -> JsonResponse:
    """A helpdesk's ticket-created webhook: signed by the sender, no session or token."""
    helpdesk = HelpdeskIntegration.objects.filter(slug=slug, enabled=True).select_related("queue").first()
    if helpdesk is None:
        return JsonResponse({"detail": "No such integration."}, status=404)
    try:
        body = request.body
    except RequestDataTooBig:
        return JsonResponse({"detail": "Request body too large."}, status=413)
    try:
        result = helpdesk_receive(integration=helpdesk, body=body, headers=dict(request.headers))
    except Refused as exc:
        return JsonResponse({"detail": f"Refused: {exc}."}, status=401)
    except BadPayload as exc:
        return JsonResponse({exc.field: [exc.message]}, status=400)
    return JsonResponse({"ticket": result.ticket_id, "created": result.created}, status=201 if result.created else 200)
