"""Input shapes of the integrations pages. Meaning (duplicates, templates, events) is
checked by the services, which name the field."""

from __future__ import annotations

from typing import Any

from django import forms

from triage.integrations.helpdesks import MAPPED_FIELDS
from triage.integrations.models import HelpdeskIntegration, Mailbox
from triage.integrations.outbox import EVENT_TYPES
from triage.models import Channel, Queue

LINK_HELP = "Optional: where the ticket opens in its system, e.g. https://acme.zendesk.com/agent/tickets/{external_id}."


class MailboxForm(forms.Form):
    name = forms.CharField(max_length=120)
    host = forms.CharField(max_length=255, help_text="e.g. imap.example.com")
    port = forms.IntegerField(min_value=1, max_value=65535, initial=993)
    security = forms.ChoiceField(choices=Mailbox.Security.choices, initial=Mailbox.Security.SSL, label="TLS")
    username = forms.CharField(max_length=255)
    # Write-only: never rendered back, not even to the admin who typed it.
    password = forms.CharField(
        max_length=500,
        required=False,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text="Stored encrypted. Leave empty to keep the saved one.",
    )
    folder = forms.CharField(max_length=255, initial="INBOX")
    after = forms.ChoiceField(
        choices=Mailbox.After.choices, initial=Mailbox.After.SEEN, label="After reading a message"
    )
    move_to = forms.CharField(max_length=255, required=False, label="Move to folder")
    queue = forms.ModelChoiceField(queryset=Queue.objects.all(), required=False, empty_label="(by category)")
    channel = forms.ChoiceField(choices=Channel.choices, initial=Channel.EMAIL)
    poll_seconds = forms.IntegerField(min_value=5, max_value=86400, initial=30, label="Poll every (seconds)")
    enabled = forms.BooleanField(required=False, initial=True)
    link_template = forms.CharField(max_length=500, required=False, label="Link template", help_text=LINK_HELP)


class HelpdeskForm(forms.Form):
    name = forms.CharField(max_length=120, help_text="Its webhook URL is made from it and then fixed.")
    kind = forms.ChoiceField(choices=HelpdeskIntegration.Kind.choices, label="Helpdesk")
    secret = forms.CharField(
        max_length=500,
        required=False,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off"}),
        help_text="Zendesk: the webhook's signing secret. Others: leave empty and one is made for you.",
    )
    queue = forms.ModelChoiceField(queryset=Queue.objects.all(), required=False, empty_label="(by category)")
    channel = forms.ChoiceField(choices=Channel.choices, initial=Channel.WEB)
    enabled = forms.BooleanField(required=False, initial=True)
    link_template = forms.CharField(max_length=500, required=False, label="Link template", help_text=LINK_HELP)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for field in MAPPED_FIELDS:
            self.fields[f"map_{field}"] = forms.CharField(
                max_length=200,
                required=False,
                label=f"Generic JSON: path of {field.replace('_', ' ')}",
                help_text="Dotted, e.g. ticket.id" if field == "external_id" else "",
            )

    def mapping(self) -> dict[str, str]:
        return {f: self.cleaned_data.get(f"map_{f}", "") for f in MAPPED_FIELDS}


class EndpointForm(forms.Form):
    name = forms.CharField(max_length=120)
    url = forms.URLField(max_length=500, assume_scheme="https", label="URL")
    events = forms.MultipleChoiceField(
        choices=[(e, e) for e in EVENT_TYPES], widget=forms.CheckboxSelectMultiple, required=False
    )


class SourceLinkForm(forms.Form):
    source = forms.CharField(max_length=64, help_text="The `source` your API client sends.")
    template = forms.CharField(max_length=500, required=False, help_text="Empty removes the link.")


class ResendSinceForm(forms.Form):
    since = forms.DateTimeField(
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}),
        input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M"],
    )
