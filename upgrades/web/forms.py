"""Forms parse input and report problems; they write nothing (services do)."""

from django import forms
from django.conf import settings
from django.utils.html import format_html

from upgrades import intake
from upgrades.models import Release
from upgrades.workflow import PLAN_LABELS, Plan


def _as_errors(problems: list[intake.Problem]) -> list:
    """Problems as form errors; a conflict links to the active request."""
    return [
        format_html('{} <a href="{}">Open it</a>.', p.message, p.link) if p.link else p.message
        for p in problems
    ]


class UpgradeRequestForm(forms.Form):
    service_urls = forms.CharField(
        label="Service URLs",
        required=False,
        widget=forms.Textarea(attrs={"rows": 4, "spellcheck": "false", "autocomplete": "off"}),
        help_text="One per line (commas also work), e.g. https://<zone-id>.run.aws-usw02-pr.ice.predix.io; "
        "at most {services}.",
    )
    plan = forms.ChoiceField(
        label="Plan",
        choices=list(PLAN_LABELS.items()),
        initial=Plan.TEST_FIRST,
        widget=forms.RadioSelect,
        help_text="Test after Step 1: the portal stops so you can try the new release on a temporary URL "
        "before your gateways move. Back to back: Step 2 follows at once. Not sure? Test after Step 1.",
    )
    release = forms.ModelChoiceField(label="Release", queryset=Release.objects.all(), empty_label=None)
    contacts = forms.CharField(
        label="Points of contact",
        required=False,
        widget=forms.Textarea(attrs={"rows": 3, "spellcheck": "false"}),
        help_text="One per line; at most {contacts}. An email address (name@example.com) gets every update "
        "by mail; several on one line may be separated by commas. Anything else, such as “Slack: @alice” "
        "or “+1 555 0100 (Dana, on call)”, is shown to the EC team and never mailed.",
    )
    notes = forms.CharField(
        label="Notes",
        required=False,
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text="At most {notes} characters.",
    )

    def __init__(self, *args, requester_email: str = "", **kwargs):
        super().__init__(*args, **kwargs)
        limits = {
            "services": settings.MAX_SERVICES_PER_REQUEST,
            "contacts": settings.MAX_CONTACTS_PER_REQUEST,
            "notes": f"{settings.MAX_NOTES_LENGTH:,}",
        }
        for field in self.fields.values():
            field.help_text = field.help_text.format(**limits) if field.help_text else ""
        self.fields["notes"].widget.attrs["maxlength"] = settings.MAX_NOTES_LENGTH
        recommended = Release.objects.filter(recommended=True).first()
        if recommended:
            self.fields["release"].initial = recommended.pk
        if requester_email:
            self.fields["contacts"].initial = requester_email

    def clean_service_urls(self):
        services, problems = intake.parse_service_urls(self.cleaned_data["service_urls"])
        if problems:
            raise forms.ValidationError(_as_errors(problems))
        return services

    def clean_contacts(self):
        contacts, problems = intake.parse_contacts(self.cleaned_data["contacts"])
        if problems:
            raise forms.ValidationError(_as_errors(problems))
        return contacts

    def clean_notes(self):
        notes = self.cleaned_data["notes"]
        problems = intake.check_notes(notes)
        if problems:
            raise forms.ValidationError(_as_errors(problems))
        return notes

    def add_problems(self, problems: dict[str, list[intake.Problem]]) -> None:
        for field, field_problems in problems.items():
            for error in _as_errors(field_problems):
                self.add_error(field, error)


class ApproveForm(forms.Form):
    """What the EC team may choose when approving: a time for Step 1, and Step 2 on confirmation."""

    trigger_at = forms.DateTimeField(
        label="Start Step 1 at (UTC, optional)",
        required=False,
        input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M"],
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
    )
    start_step2_on_confirmation = forms.BooleanField(
        label="Start Step 2 as soon as the requester confirms", required=False
    )


class QueueFilterForm(forms.Form):
    q = forms.CharField(label="Search", required=False)
    state = forms.ChoiceField(label="State", required=False)
    foundation = forms.ChoiceField(label="Foundation", required=False)
    sort = forms.ChoiceField(label="Sort by", required=False)

    def __init__(self, *args, state_choices=(), foundation_choices=(), sort_choices=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["sort"].choices = list(sort_choices)
        self.fields["state"].choices = [("", "Any state"), *state_choices]
        self.fields["foundation"].choices = [("", "Any foundation"), *foundation_choices]
