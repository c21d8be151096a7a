"""Input shapes of the users and API tokens pages; the services check their meaning."""

from __future__ import annotations

from django import forms

from triage.taxonomy.users import ROLES

ROLE_CHOICES = [("", "no role"), *((r, r) for r in ROLES)]


class UserCreateForm(forms.Form):
    username = forms.CharField(max_length=150)
    first_name = forms.CharField(max_length=150, required=False)
    last_name = forms.CharField(max_length=150, required=False)
    email = forms.CharField(max_length=254, required=False, label="Email")
    role = forms.ChoiceField(choices=ROLE_CHOICES, required=False, initial="agent")


class TokenForm(forms.Form):
    user = forms.IntegerField(widget=forms.Select, label="For user")
    name = forms.CharField(max_length=120, help_text="What uses it, e.g. “Zendesk webhook”.")
