"""Campaign pages (EC team only): the list, a new campaign (pasted services or the Fleet page's
filters), a campaign's page with its live part, and its controls (POST-redirect-GET)."""

from datetime import UTC, datetime

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.views.decorators.http import require_POST

from upgrades import actions, campaign_reads, campaigns, fleet, subscriptions, workflow
from upgrades.models import Campaign, Release
from upgrades.permissions import is_ec_team
from upgrades.web import webhook_views
from upgrades.web.campaign_forms import CampaignForm
from upgrades.web.fleet_views import fleet_filters
from upgrades.web.pages import Button
from upgrades.workflow import Plan, State

PAGE_SIZE = 50
# How the controls read; Abort asks first.
_BUTTONS = {
    campaigns.CampaignAction.APPROVE: Button(campaigns.CampaignAction.APPROVE, "Approve", "primary"),
    campaigns.CampaignAction.START: Button(campaigns.CampaignAction.START, "Start now", "primary"),
    campaigns.CampaignAction.CONTINUE: Button(
        campaigns.CampaignAction.CONTINUE, "Continue to the next wave", "primary"
    ),
    campaigns.CampaignAction.ABORT: Button(
        campaigns.CampaignAction.ABORT,
        "Abort",
        "danger",
        question="Abort this campaign? No further service starts, and those not started are cancelled. "
        "The services already started:",
        confirm_label="Abort the campaign",
        choices=tuple(Campaign.Running.choices),
        choice_field="running",
    ),
}
_DONE = {
    campaigns.CampaignAction.APPROVE: "approved",
    campaigns.CampaignAction.START: "started",
    campaigns.CampaignAction.PAUSE: "paused: no further service starts until you resume",
    campaigns.CampaignAction.RESUME: "resumed",
    campaigns.CampaignAction.CONTINUE: "the next wave starts now",
    campaigns.CampaignAction.ABORT: "aborted",
    campaigns.CampaignAction.RETRY: "the failed steps run again",
}
# States in which the page polls, and how often (seconds).
_POLL = {
    Campaign.State.RUNNING: 2,
    Campaign.State.PAUSED: 10,
    Campaign.State.DRAFT: 5,
    Campaign.State.APPROVED: 5,  # only while a start is scheduled: it shows itself
}


def _team_only(user) -> None:
    if not is_ec_team(user):
        raise PermissionDenied("Campaigns are for the EC team.")


def _campaign(user, campaign_id: int) -> Campaign:
    try:
        return campaign_reads.get_campaign(user, campaign_id)
    except Campaign.DoesNotExist:
        raise Http404("No such campaign.") from None


@login_required
def campaign_list(request):
    _team_only(request.user)
    page = Paginator(campaign_reads.campaigns_for(request.user), 25).get_page(request.GET.get("page"))
    return render(request, "upgrades/campaign_list.html", {"page": page})


@login_required
def campaign_new(request):
    """A new draft. Opened from the Fleet page, the services are those its filters show now."""
    _team_only(request.user)
    form = CampaignForm(request.POST or None, initial=_from_fleet(request))
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            created = campaigns.create_campaign(
                creator=request.user,
                name=data["name"],
                release=data["release"],
                plan=Plan(data["plan"]),
                named=campaigns.named_services(data["services"], "services"),
                waves=campaigns.Waves.of(data),
            )
        except actions.IntakeRejected as rejected:
            for problems in rejected.problems.values():
                for problem in problems:
                    form.add_error("services", str(problem))
        except actions.InputRefused as error:
            form.add_error(error.field if error.field in form.fields else None, str(error))
        except workflow.InvalidTransition as error:
            form.add_error(None, str(error))
        else:
            messages.success(request, f"Campaign {created.reference} drafted; preflight checks its services.")
            return redirect("campaign-detail", created.pk)
    return render(request, "upgrades/campaign_form.html", {"form": form})


def _from_fleet(request) -> dict:
    """Initial values from the Fleet page's filters (in the query string), if any were given."""
    if request.method != "GET" or not request.GET:
        return {"release": Release.objects.filter(recommended=True).first()}
    _, filters = fleet_filters(request)
    zone_ids = fleet.services_for(request.user, filters).values_list("zone_id", flat=True)
    return {
        "services": "\n".join(zone_ids),
        "release": Release.objects.filter(recommended=True).first(),
    }


def _context(request, campaign_id: int) -> dict:
    campaign = _campaign(request.user, campaign_id)
    page = Paginator(campaign_reads.services_of(campaign), PAGE_SIZE).get_page(request.GET.get("page"))
    progress = campaign_reads.progress(campaign)
    allowed = campaign_reads.allowed(campaign, request.user, progress)
    buttons = [_BUTTONS.get(a) or Button(a, campaigns.ACTION_LABELS[a]) for a in allowed]
    return {
        "campaign": campaign,
        "progress": progress,
        "bar": _bar(progress),
        "page": page,
        "buttons": buttons,
        "poll_seconds": _poll_seconds(campaign),
        "own_draft": campaign.state == Campaign.State.DRAFT and campaign.creator_id == request.user.pk,
        "may_schedule": campaigns.CampaignAction.START in allowed,
        "now": timezone.now(),
    }


def _poll_seconds(campaign: Campaign) -> int | None:
    """How often the live part asks for itself again; None once nothing it shows will move."""
    if campaign.state == Campaign.State.APPROVED and not campaign.start_at:
        return None
    if campaign.state == Campaign.State.ABORTED and campaign.ended_at is None:
        return 2  # an abort under way: services finish or roll back
    return _POLL.get(campaign.state)


def _bar(progress: campaign_reads.Progress) -> list[tuple[State, int, float, float]]:
    """The progress bar: (state, count, percent of all services, where its segment begins in
    percent) for each state present, in the workflow's order."""
    total, start, segments = progress.total or 1, 0.0, []
    for state in State:
        if count := progress.counts.get(state):
            width = 100 * count / total
            segments.append((state, count, width, start))
            start += width
    return segments


@login_required
def campaign_detail(request, campaign_id: int):
    _team_only(request.user)
    context = _context(request, campaign_id)
    context.update(webhook_views.section(request.user, subscriptions.Scope(campaign=context["campaign"])))
    return render(request, "upgrades/campaign_detail.html", context)


def campaign_live(request, campaign_id: int):
    """The live part of the campaign page, polled by htmx."""
    if not request.user.is_authenticated:
        response = HttpResponse(status=401)
        response["HX-Redirect"] = f"{reverse('login')}?next={reverse('campaign-detail', args=[campaign_id])}"
        return response
    _team_only(request.user)
    return render(request, "upgrades/_campaign_live.html", _context(request, campaign_id))


def _start_at(text: str) -> datetime | None | bool:
    """The schedule form's time, read as UTC when it has no zone; None when not given; False when it
    does not parse."""
    if not text.strip():
        return None
    try:
        parsed = parse_datetime(text.strip())
    except ValueError:
        parsed = None
    if parsed is None:
        return False
    return parsed if timezone.is_aware(parsed) else parsed.replace(tzinfo=UTC)


@login_required
@require_POST
def campaign_action(request, campaign_id: int, action: str):
    _team_only(request.user)
    campaign = _campaign(request.user, campaign_id)
    try:
        chosen = campaigns.CampaignAction(action)
    except ValueError:
        raise Http404("No such action.") from None
    start_at = _start_at(request.POST.get("start_at", ""))
    try:
        if start_at is False:
            raise actions.InputRefused("start_at", "Give the start time as a date and a time (UTC).")
        campaigns.act(
            campaign=campaign,
            action=chosen,
            actor=request.user,
            start_at=start_at,
            running=request.POST.get("running", Campaign.Running.FINISH),
        )
    except workflow.NotAllowed as error:
        raise PermissionDenied(str(error)) from None
    except (workflow.InvalidTransition, actions.StaleState, actions.InputRefused) as error:
        messages.error(request, str(error))
    else:
        done = f"starts at {start_at:%Y-%m-%d %H:%M} UTC" if start_at else _DONE[chosen]
        messages.success(request, f"{campaign.reference}: {done}.")
    return redirect("campaign-detail", campaign.pk)
