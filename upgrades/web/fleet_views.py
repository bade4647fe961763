"""The Fleet page (EC team only): every EC service on every foundation, a chart of releases per
foundation, filters, and "Refresh now"."""

from dataclasses import dataclass

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.shortcuts import get_object_or_404, redirect, render
from django.template.defaultfilters import pluralize
from django.urls import reverse
from django.utils.http import urlencode
from django.views.decorators.http import require_POST

from upgrades import fleet, foundations
from upgrades import fleet_contacts as fleet_contacts_service
from upgrades.models import FleetService
from upgrades.permissions import is_ec_team
from upgrades.web.forms import ContactsImportForm, FleetContactsForm, FleetFilterForm

PAGE_SIZE = 50
# The chart: a heading per foundation, then a bar per release under it, widths relative to the
# largest bar.
BAR_HEIGHT, BAR_GAP, LABEL_WIDTH, BAR_SPACE, GROUP_GAP, HEADING = 22, 6, 110, 420, 14, 22


@dataclass(frozen=True)
class Bar:
    foundation: str
    foundation_name: str
    release: str
    count: int
    y: int
    width: int
    link: str
    heading_y: int | None  # where the foundation's name goes, above its first bar


def _chart(counts: list[dict]) -> tuple[list[Bar], int]:
    """The bars of the releases-per-foundation chart and the chart's height."""
    largest = max((n for group in counts for _, n in group["releases"]), default=1)
    bars, y = [], 0
    for group in counts:
        heading_y, y = y + 15, y + HEADING
        for release, count in group["releases"]:
            query = urlencode({"foundation": group["foundation"], "release": release})
            bars.append(
                Bar(
                    foundation=group["foundation"],
                    foundation_name=group["name"],
                    release=release or "unknown",
                    count=count,
                    y=y,
                    width=max(2, round(BAR_SPACE * count / largest)),
                    link=f"{reverse('fleet')}?{query}",
                    heading_y=heading_y,
                )
            )
            heading_y = None
            y += BAR_HEIGHT + BAR_GAP
        y += GROUP_GAP
    return bars, max(y - GROUP_GAP, 0)


def fleet_filters(request) -> tuple[FleetFilterForm, fleet.FleetFilters]:
    form = FleetFilterForm(
        request.GET or None,
        foundation_choices=foundations.choices(),
        release_choices=[(r, r or "unknown") for r in fleet.releases_seen(request.user)],
        state_choices=fleet.STATE_CHOICES,
        sort_choices=[(key, label) for key, (label, _) in fleet.SORTS.items()],
    )
    if form.is_valid():
        return form, fleet.FleetFilters(**form.cleaned_data)
    return form, fleet.FleetFilters()


@login_required
def fleet_page(request):
    if not is_ec_team(request.user):
        raise PermissionDenied("The fleet is for the EC team.")
    form, filters = fleet_filters(request)
    page = Paginator(fleet.services_for(request.user, filters), PAGE_SIZE).get_page(request.GET.get("page"))
    counts = fleet.release_counts(request.user)
    bars, height = _chart(counts)
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "upgrades/fleet.html",
        {
            "form": form,
            "page": page,
            "counts": counts,
            "bars": bars,
            "chart_height": height,
            "chart_width": LABEL_WIDTH + BAR_SPACE + 60,
            "label_width": LABEL_WIDTH,
            "bar_height": BAR_HEIGHT,
            "syncs": fleet.last_syncs(),
            "query": query.urlencode(),
            "campaign_query": _campaign_query(request),
            "total": sum(n for group in counts for _, n in group["releases"]),
        },
    )


def _campaign_query(request) -> str:
    """The filters as the new-campaign page reads them (the services they show become its list)."""
    chosen = {
        name: request.GET[name] for name in ("foundation", "release", "state", "q") if request.GET.get(name)
    }
    return urlencode(chosen or {"all": "1"})


@login_required
@require_POST
def fleet_refresh(request):
    if not is_ec_team(request.user):
        raise PermissionDenied("The fleet is for the EC team.")
    fleet.refresh()
    messages.success(
        request, "Refreshing the fleet: every foundation is read again; this page shows it when done."
    )
    return redirect("fleet")


def _team_only(request) -> None:
    if not is_ec_team(request.user):
        raise PermissionDenied("The fleet is for the EC team.")


@login_required
def fleet_contacts(request, zone_id: str):
    """A fleet service's contacts: shown, and set by the EC team."""
    _team_only(request)
    service = get_object_or_404(FleetService.objects.visible_to(request.user), zone_id=zone_id)
    current = fleet_contacts_service.contacts_for([service.zone_id]).get(service.zone_id, [])
    form = FleetContactsForm(request.POST or None, initial={"contacts": "\n".join(current)})
    if request.method == "POST" and form.is_valid():
        try:
            entries = fleet_contacts_service.parse(form.cleaned_data["contacts"])
            fleet_contacts_service.set_contacts(service=service, user=request.user, contacts=entries)
        except fleet_contacts_service.ContactsRefused as refused:
            for problem in refused.problems:
                form.add_error("contacts", problem)
        else:
            messages.success(
                request, f"Saved {len(entries)} point{pluralize(len(entries))} of contact of {service}."
            )
            return redirect("fleet-contacts", zone_id=service.zone_id)
    return render(
        request,
        "upgrades/fleet_contacts.html",
        {"service": service, "form": form, "set_by_team": service.contacts_set_at is not None},
        status=400 if form.errors else 200,
    )


@login_required
def fleet_contacts_import(request):
    """Contacts of many fleet services from `zone_id,contact` lines (a file or pasted)."""
    _team_only(request)
    form = ContactsImportForm(request.POST or None, request.FILES or None)
    problems: list[str] = []
    if request.method == "POST" and form.is_valid():
        try:
            done = fleet_contacts_service.import_csv(user=request.user, text=form.cleaned_data["text"])
        except fleet_contacts_service.ContactsRefused as refused:
            problems = refused.problems
        else:
            messages.success(
                request,
                f"Imported {done.contacts} point{pluralize(done.contacts)} of contact for "
                f"{done.services} service{pluralize(done.services)}.",
            )
            return redirect("fleet")
    return render(
        request,
        "upgrades/fleet_contacts_import.html",
        {"form": form, "problems": problems},
        status=400 if (form.errors or problems) else 200,
    )
