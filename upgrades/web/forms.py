"""Forms parse input and report problems; they write nothing (services do)."""

from dataclasses import dataclass, replace

from django import forms
from django.conf import settings
from django.urls import reverse
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
        # As the list changes, the rows of per-service plans below follow it (`plan_rows`).
        widget=forms.Textarea(
            attrs={
                "rows": 4,
                "spellcheck": "false",
                "autocomplete": "off",
                "hx-trigger": "input changed delay:400ms, change",
                "hx-target": "#plan-rows",
                "hx-swap": "outerHTML",
            }
        ),
        help_text="One per line (commas also work), e.g. https://<zone-id>.run.aws-usw02-pr.ice.predix.io; "
        "at most {services}.",
    )
    plan = forms.ChoiceField(
        label="Plan",
        choices=list(PLAN_LABELS.items()),
        initial=Plan.TEST_FIRST,
        widget=forms.RadioSelect,
        help_text="Test after Step 1: the portal stops after Step 1 so you can try the new release on a "
        "temporary URL. Testing means pointing your gateway scripts (-sst) at that temporary URL and back "
        "again afterwards; for a production service that means downtime for whoever uses those gateways. "
        "Steps 1 and 2 back to back: the service keeps its original URL, so gateways need nothing, but "
        "nothing is tested before the cut-over. Not sure? Test after Step 1. With several services, you "
        "can choose a plan for each below.",
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
        self.fields["service_urls"].widget.attrs["hx-post"] = reverse("request-new-plans")

    def clean_service_urls(self):
        services, problems = intake.parse_service_urls(self.cleaned_data["service_urls"])
        if problems:
            raise forms.ValidationError(_as_errors(problems))
        return services

    def clean(self):
        cleaned = super().clean()
        services = cleaned.get("service_urls")
        if services:
            cleaned["service_urls"] = self._planned(services)
        return cleaned

    def _planned(self, services: list[intake.ParsedService]) -> list[intake.ParsedService]:
        """Each service with the plan chosen in its row ("" = the plan above) and the index of the
        service it waits for; rows name services by zone ID, so reordering lines keeps the choices."""
        index = {service.zone_id: number for number, service in enumerate(services)}
        planned = [
            replace(
                service,
                plan=_choice(self.data.get(f"plan-{service.zone_id}", ""), PLAN_LABELS),
                after=index.get(self.data.get(f"after-{service.zone_id}", "")),
            )
            for service in services
        ]
        zone_ids = [service.zone_id for service in services]
        for problem in intake.check_order(zone_ids, [service.after for service in planned]):
            self.add_error(None, str(problem))
        return planned

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


def _choice(value: str, choices) -> str:
    return value if value in choices else ""


@dataclass(frozen=True)
class PlanRow:
    """The choices for one service of a new request: its plan and the service it waits for."""

    zone_id: str
    where: str  # its foundation's name, when the URL tells
    plan: str  # "" = the request's plan
    after: str  # the zone ID of the service it waits for, or ""
    others: list[str]  # the zone IDs it may wait for


def plan_rows(data) -> list[PlanRow]:
    """A row per service named in `data`'s Service URLs (read from the text alone, nothing looked
    up or fetched), with the choices `data` holds for it kept. None for a single service: the
    request's plan is its plan."""
    services = intake.zone_ids_in(data.get("service_urls", ""))
    if len(services) < 2:
        return []
    zone_ids = [zone_id for zone_id, _ in services]
    rows = []
    for zone_id, where in services:
        others = [other for other in zone_ids if other != zone_id]
        rows.append(
            PlanRow(
                zone_id=zone_id,
                where=where,
                plan=_choice(data.get(f"plan-{zone_id}", ""), PLAN_LABELS),
                after=_choice(data.get(f"after-{zone_id}", ""), others),
                others=others,
            )
        )
    return rows


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


def plans_seen(data) -> dict[int, str] | None:
    """The plans the approver was shown, from the approve form's `plan_fingerprint` fields
    ("<service id>:<fingerprint>" each); None when the form carried none (approve what is stored)."""
    values = data.getlist("plan_fingerprint")
    if not values:
        return None
    seen = {}
    for value in values:
        service_id, _, fingerprint = value.partition(":")
        if service_id.isdigit():
            seen[int(service_id)] = fingerprint
    return seen


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


class FleetFilterForm(forms.Form):
    q = forms.CharField(label="Search", required=False, max_length=200)
    foundation = forms.ChoiceField(label="Foundation", required=False)
    release = forms.ChoiceField(label="Release", required=False)
    state = forms.ChoiceField(label="Upgrade", required=False)
    sort = forms.ChoiceField(label="Sort by", required=False)

    def __init__(
        self, *args, foundation_choices=(), release_choices=(), state_choices=(), sort_choices=(), **kwargs
    ):
        super().__init__(*args, **kwargs)
        self.fields["foundation"].choices = [("", "Any foundation"), *foundation_choices]
        self.fields["release"].choices = [("", "Any release"), *release_choices]
        self.fields["state"].choices = [("", "Any"), *state_choices]
        self.fields["sort"].choices = list(sort_choices)


class FleetContactsForm(forms.Form):
    contacts = forms.CharField(
        label="Points of contact",
        required=False,
        widget=forms.Textarea(attrs={"rows": 5}),
        help_text="One per line: an email address (mailed) or other contact info such as a chat handle "
        "(shown to the EC team, never mailed). Empty: no contacts.",
    )


class ContactsImportForm(forms.Form):
    file = forms.FileField(label="CSV file", required=False, help_text="At most 2 MB.")
    text = forms.CharField(
        label="Or paste the lines",
        required=False,
        widget=forms.Textarea(attrs={"rows": 8, "placeholder": "zone_id,contact"}),
        help_text="One `zone_id,contact` per line; a header line is allowed. Each zone ID named gets "
        "exactly the contacts its lines give. Nothing is imported while any line is wrong.",
    )

    def clean(self):
        data = super().clean()
        upload = data.get("file")
        if upload is not None:
            if upload.size > 2 * 1024 * 1024:
                raise forms.ValidationError("The file is larger than 2 MB.")
            try:
                data["text"] = upload.read().decode("utf-8-sig")
            except UnicodeDecodeError:
                raise forms.ValidationError("The file is not UTF-8 text; save it as CSV (UTF-8).") from None
        if not data.get("text", "").strip():
            raise forms.ValidationError("Choose a CSV file or paste its lines.")
        return data
