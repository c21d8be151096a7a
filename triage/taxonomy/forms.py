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
    # Shown as a checkbox once the page has warned of similar names (views._similar_names_check).
    confirm_similar = forms.BooleanField(required=False, widget=forms.HiddenInput)

    def ask_to_confirm(self, similar: list[str]) -> None:
        names = ", ".join(f"“{n}”" for n in similar)
        self.add_error(
            "name",
            f"Similar categories exist: {names}. Agents could not tell them apart, and tickets of one kind "
            "would be split between them. Use the existing one, or confirm below.",
        )
        field = self.fields["confirm_similar"]
        field.widget = forms.CheckboxInput()
        field.label = "Keep this name beside the similar ones"


class VersionForm(forms.Form):
    version = forms.IntegerField(widget=forms.HiddenInput)


def parse_share(raw: str, *, field: str, what: str) -> str:
    """A share typed as a percentage ("90", "90 %", "92.5") as the fraction the services
    take ("0.9"); "" stays "" (none). Every share admins type is a percentage."""
    text = raw.strip().rstrip("%").strip().replace(",", ".")
    if not text:
        return ""
    try:
        value = float(text)
    except ValueError:
        raise forms.ValidationError(f"Write the {what} as a percentage, e.g. 90.", code=field) from None
    if not 0 <= value <= 100:
        raise forms.ValidationError(f"The {what} is a percentage from 0 to 100.", code=field)
    return f"{value / 100:.6g}"


class ThresholdForm(forms.Form):
    threshold = forms.CharField(
        required=False,
        max_length=20,
        label="Threshold (%)",
        help_text="A confidence from 0 to 100 %; empty turns auto-triage off for this category.",
    )
    version = forms.IntegerField(widget=forms.HiddenInput)

    def clean_threshold(self) -> str:
        return parse_share(self.cleaned_data["threshold"], field="threshold", what="threshold")


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


class QueueEditForm(forms.Form):
    queue = forms.IntegerField(widget=forms.HiddenInput)
    name = forms.CharField(max_length=80, required=False)


class PrecisionForm(forms.Form):
    # Checked by triage.taxonomy.policy.parse_percent, which names what is wrong.
    target_precision = forms.CharField(
        max_length=20,
        required=False,
        label="Target precision (%)",
        help_text="Suggestions the model is less sure of show as “needs a human”. Empty: the default.",
    )
