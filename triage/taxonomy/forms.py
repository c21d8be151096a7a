"""Input shapes for the taxonomy pages. Validation of meaning (duplicates, merges into
retired categories, regexes, thresholds) happens in the services, which name the field."""

from __future__ import annotations

from django import forms

from triage.models import Category, Queue, RoutingRule


def _active_top_level() -> forms.ModelChoiceField:
    return forms.ModelChoiceField(
        queryset=Category.objects.filter(is_active=True, parent__isnull=True),
        required=False,
        empty_label="(top level)",
        label="Parent",
    )


class CategoryForm(forms.Form):
    name = forms.CharField(max_length=120)
    slug = forms.CharField(max_length=120, required=False, help_text="Made from the name when left empty.")
    description = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 2}),
        required=False,
        max_length=1000,  # services.DESCRIPTION_MAX_CHARS, checked there too
        help_text="Shown to agents as a tooltip.",
    )
    color = forms.CharField(max_length=7, initial="#5d6677", widget=forms.TextInput(attrs={"type": "color"}))
    parent = _active_top_level()
    queue = forms.ModelChoiceField(queryset=Queue.objects.all(), required=False, empty_label="(no queue)")
    urgent = forms.BooleanField(required=False, help_text="Urgent tickets go first and notify agents.")
    version = forms.IntegerField(widget=forms.HiddenInput, required=False)


class VersionForm(forms.Form):
    version = forms.IntegerField(widget=forms.HiddenInput)


class ThresholdForm(forms.Form):
    threshold = forms.CharField(
        required=False, max_length=20, help_text="From 0 to 1; empty turns auto-triage off for this category."
    )
    version = forms.IntegerField(widget=forms.HiddenInput)


class MergeForm(forms.Form):
    target = forms.ModelChoiceField(queryset=Category.objects.all(), label="Merge into")
    version = forms.IntegerField(widget=forms.HiddenInput)


class SplitForm(forms.Form):
    new_names = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}), label="New categories", help_text="One name per line, at least two."
    )
    version = forms.IntegerField(widget=forms.HiddenInput)


class RuleForm(forms.Form):
    name = forms.CharField(max_length=120)
    field = forms.ChoiceField(choices=RoutingRule.Field.choices, initial=RoutingRule.Field.SUBJECT)
    kind = forms.ChoiceField(choices=RoutingRule.Kind.choices, initial=RoutingRule.Kind.CONTAINS)
    pattern = forms.CharField(max_length=300)
    category = forms.ModelChoiceField(queryset=Category.objects.filter(is_active=True))
    urgent = forms.BooleanField(required=False)
    position = forms.IntegerField(min_value=0, max_value=100000, initial=100, help_text="Lower runs first.")
    is_active = forms.BooleanField(required=False, initial=True, label="Active")
    version = forms.IntegerField(widget=forms.HiddenInput, required=False)


class QueueForm(forms.Form):
    name = forms.CharField(max_length=80, label="New queue")


class PrecisionForm(forms.Form):
    # Checked by triage.taxonomy.policy.parse_percent, which names what is wrong.
    target_precision = forms.CharField(
        max_length=20,
        required=False,
        label="Target precision (%)",
        help_text="Suggestions the model is less sure of show as “needs a human”. Empty: the default.",
    )
