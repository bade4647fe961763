"""The new-campaign form: it parses and reports problems; `campaigns.create_campaign` writes."""

from django import forms
from django.conf import settings

from upgrades.models import Release
from upgrades.workflow import PLAN_LABELS, Plan


def _count(label: str, initial: int, help_text: str, *, maximum: int | None = None) -> forms.IntegerField:
    return forms.IntegerField(
        label=label,
        min_value=1,
        max_value=maximum or settings.MAX_SERVICES_PER_CAMPAIGN,
        initial=initial,
        help_text=help_text,
    )


class CampaignForm(forms.Form):
    name = forms.CharField(label="Name", max_length=200, help_text="e.g. okinawa.130 everywhere")
    release = forms.ModelChoiceField(label="Release", queryset=Release.objects.all(), empty_label=None)
    services = forms.CharField(
        label="Services",
        widget=forms.Textarea(attrs={"rows": 6, "spellcheck": "false", "autocomplete": "off"}),
        help_text="Zone IDs or service URLs, one per line or separated by commas. Services already on the "
        "release or with an upgrade under way are left out, and the draft says so.",
    )
    plan = forms.ChoiceField(
        label="Plan",
        choices=list(PLAN_LABELS.items()),
        initial=Plan.BACK_TO_BACK,
        widget=forms.RadioSelect,
        help_text="Back to back: Step 2 follows Step 1 at once. Test after Step 1: each service waits "
        "for its contacts' “It works”, and Step 2 then starts by itself.",
    )
    canary_size = _count("First (canary) wave", 1, "How many services go first, on their own.")
    wave_size = _count("Then waves of", 10, "How many services each later wave holds.")
    max_parallel = _count(
        "At most running at once", 10, "Services in Step 1 or 2 at the same time.", maximum=1000
    )
    pause_seconds = forms.IntegerField(
        label="Pause between waves (seconds)",
        required=False,
        min_value=0,
        max_value=7 * 24 * 3600,
        help_text="Empty: wait for a person to press Continue after each wave.",
    )
    failure_budget = _count(
        "Failure budget", 1, "Stop starting services once this many failed or were rolled back."
    )
    failure_budget_percent = forms.IntegerField(
        label="Failure budget (% of a wave)",
        required=False,
        min_value=1,
        max_value=100,
        help_text="Also stop once this share of the current wave failed, whichever comes first. "
        "Empty: no such limit.",
    )
    foundation_order = forms.CharField(
        label="Foundations first",
        required=False,
        help_text="Foundation slugs whose services go first, in this order, separated by commas (e.g. cf3). "
        "Empty: as named.",
    )

    def clean_foundation_order(self) -> tuple[str, ...]:
        return tuple(
            slug.strip().lower() for slug in self.cleaned_data["foundation_order"].split(",") if slug.strip()
        )
