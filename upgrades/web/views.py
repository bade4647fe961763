"""Pages: parse input, call one action or selector, render. POST-redirect-GET for every change.

The request page and its live part answer conditional GETs: their ETag is built from what they show
(`selectors.request_fingerprint`), so an unchanged poll costs one indexed query and a 304.
"""

from contextlib import contextmanager

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import condition, require_POST

from upgrades import (
    actions,
    campaign_reads,
    foundations,
    identity,
    ownership,
    selectors,
    subscriptions,
    workflow,
)
from upgrades.models import Leftover, ServiceUpgrade, UpgradeRequest
from upgrades.permissions import is_ec_team
from upgrades.web import home as home_page
from upgrades.web import pages, topology, webhook_views
from upgrades.web.conditional import request_etag
from upgrades.web.forms import ApproveForm, QueueFilterForm, UpgradeRequestForm, plan_rows, plans_seen
from upgrades.workflow import PLAN_LABELS, STATE_LABELS, Action, State


def _visible_request(user, request_id: int) -> UpgradeRequest:
    try:
        return selectors.get_request(user, request_id)
    except UpgradeRequest.DoesNotExist:
        raise Http404("No such request.") from None


HOME_LEFTOVERS = 50


@login_required
def home(request):
    team = is_ec_team(request.user)
    work = home_page.worklist(request.user, team=team)
    counts = [(state, work.counts[state]) for state in State if work.counts.get(state)]
    running = campaign_reads.running_campaigns(request.user) if team else []
    leftovers = list(Leftover.objects.visible_to(request.user)[:HOME_LEFTOVERS])
    context = {"work": work, "counts": counts, "team": team, "campaigns": running, "leftovers": leftovers}
    return render(request, "upgrades/home.html", context)


@login_required
def how_it_works(request):
    examples = enumerate(topology.examples(), start=1)
    pictures = [(picture, text, topology.render(picture, f"how{n}")) for n, (picture, text) in examples]
    return render(request, "upgrades/how.html", {"pictures": pictures})


@login_required
def new_request(request):
    initial = _filed_again(request) if request.method == "GET" else None
    must_own, token = identity.provider_access(request.user, request.session)
    form = UpgradeRequestForm(request.POST or None, initial=initial, requester_email=request.user.email)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            contacts = ownership.confirm(
                services=data["service_urls"],
                contacts=data["contacts"],
                owner_token=token if must_own else None,
            )
            created = actions.submit_request(
                requester=request.user,
                services=data["service_urls"],
                plan=workflow.Plan(data["plan"]),
                release=data["release"],
                contacts=contacts,
                notes=data["notes"],
            )
        except ownership.NotYours as refused:
            form.add_problems({"service_urls": refused.problems})
        except actions.IntakeRejected as rejected:
            form.add_problems(rejected.problems)
        else:
            messages.success(request, f"Request {created.reference} submitted.")
            return redirect("request-detail", created.pk)
    return render(request, "upgrades/request_form.html", {"form": form, **_plan_rows_context(form.data)})


@login_required
@require_POST
def new_request_plans(request):
    """The new-request form's rows of per-service plans for the Service URLs typed so far (htmx)."""
    return render(request, "upgrades/_plan_rows.html", _plan_rows_context(request.POST))


def _plan_rows_context(data) -> dict:
    return {"plan_rows": plan_rows(data), "plan_choices": list(PLAN_LABELS.items())}


def _filed_again(request) -> dict | None:
    """The new-request form's prefill for "File again" (`?again=<service id>`): that service's URL,
    plan and contacts, read through the same visibility gate as its request page."""
    again = request.GET.get("again", "")
    if not again:
        return None
    try:
        return pages.file_again_initial(request.user, int(again))
    except (ValueError, ServiceUpgrade.DoesNotExist):
        raise Http404("No such service.") from None


def _list_response(request, queryset, template: str, **extra):
    page = Paginator(queryset, 25).get_page(request.GET.get("page"))
    rows = [(item, item.status_from(item.services.all())) for item in page.object_list]
    return render(request, template, {"page": page, "rows": rows, **extra})


@login_required
def my_requests(request):
    rows = selectors.my_requests(request.user, rows=True)
    return _list_response(request, rows, "upgrades/my_requests.html")


@login_required
def queue(request):
    if not is_ec_team(request.user):
        raise PermissionDenied("The queue is for the EC team.")
    form = QueueFilterForm(
        request.GET or None,
        state_choices=list(STATE_LABELS.items()),
        foundation_choices=foundations.choices(),
        sort_choices=[(key, label) for key, (label, _) in selectors.SORTS.items()],
    )
    filters = selectors.QueueFilters()
    if form.is_valid():
        filters = selectors.QueueFilters(**form.cleaned_data)
    queryset = selectors.filter_requests(selectors.request_rows_for(request.user), filters)
    return _list_response(request, queryset, "upgrades/queue.html", form=form)


def _page_context(request, request_id: int) -> dict:
    try:
        page = pages.request_page(request.user, request_id)
    except UpgradeRequest.DoesNotExist:
        raise Http404("No such request.") from None
    return {
        "page": page,
        "req": page.req,
        "approve_form": ApproveForm(),
    }


@login_required
@condition(etag_func=request_etag)
def request_detail(request, request_id: int):
    context = _page_context(request, request_id)
    context.update(pages.contacts_context(context["req"], request.user), contacts_partial=True)
    context.update(webhook_views.section(request.user, subscriptions.Scope(request=context["req"])))
    return render(request, "upgrades/request_detail.html", context)


@condition(etag_func=request_etag)
def request_live(request, request_id: int):
    """The live part of the request page, polled by htmx; same visibility rules as the page."""
    if not request.user.is_authenticated:
        # A session that expired while the page was open: send the whole page to the login form.
        response = HttpResponse(status=401)
        response["HX-Redirect"] = f"{reverse('login')}?next={reverse('request-detail', args=[request_id])}"
        return response
    return render(request, "upgrades/_live.html", {**_page_context(request, request_id), "fragment": True})


@login_required
def request_calls(request, request_id: int):
    """Every CF call of a request, newest first, paged (the EC team's; others who see it get 403)."""
    try:
        req, calls = pages.all_calls(request.user, request_id)
    except UpgradeRequest.DoesNotExist:
        raise Http404("No such request.") from None
    if not is_ec_team(request.user):
        raise PermissionDenied("The CF calls are for the EC team.")
    page = Paginator(calls, 100).get_page(request.GET.get("page"))
    return render(request, "upgrades/request_calls.html", {"req": req, "page": page})


@login_required
@require_POST
def request_action(request, request_id: int, action: str):
    upgrade_request = _visible_request(request.user, request_id)
    chosen = _action(action)
    options = ApproveForm(request.POST)
    if not options.is_valid():
        messages.error(
            request, "Enter the start time as a date and time, e.g. 2026-12-01 06:00, or leave it empty."
        )
        return redirect("request-detail", upgrade_request.pk)
    with _outcome(request, f"{upgrade_request.reference}: {workflow.ACTION_DONE[chosen].lower()}.") as notes:
        outcome = actions.apply_request_action(
            request=upgrade_request,
            action=chosen,
            actor=request.user,
            reason=request.POST.get("reason", ""),
            **_approval_options(chosen, options.cleaned_data, plans_seen(request.POST)),
        )
        _note_partial(notes, workflow.ACTION_DONE[chosen], outcome)
    return redirect("request-detail", upgrade_request.pk)


@login_required
@require_POST
def request_start_all(request, request_id: int, step: int):
    """Start Step `step` of every service of the request that may start it now (EC team)."""
    upgrade_request = _visible_request(request.user, request_id)
    with _outcome(request, f"{upgrade_request.reference}: Step {step} started.") as notes:
        outcome = actions.trigger_all(request=upgrade_request, step=step, actor=request.user)
        _note_partial(notes, f"Step {step} started", outcome)
    return redirect("request-detail", upgrade_request.pk)


@login_required
@require_POST
def service_action(request, request_id: int, service_id: int, action: str):
    service = _visible_service(request.user, request_id, service_id)
    chosen = _action(action)
    with _outcome(request, f"{service.display_name}: {workflow.ACTION_DONE[chosen].lower()}."):
        actions.apply_service_action(
            service=service, action=chosen, actor=request.user, reason=request.POST.get("reason", "")
        )
    return redirect(reverse("request-detail", args=[request_id]) + f"#service-{service.pk}")


@login_required
@require_POST
def service_recheck(request, request_id: int, service_id: int):
    service = _visible_service(request.user, request_id, service_id)
    try:
        actions.recheck_preflight(service=service, actor=request.user)
    except workflow.NotAllowed as error:
        raise PermissionDenied(str(error)) from None
    messages.success(request, f"{service.display_name}: preflight runs again.")
    return redirect(reverse("request-detail", args=[request_id]) + f"#service-{service.pk}")


@login_required
@require_POST
def comment(request, request_id: int):
    upgrade_request = _visible_request(request.user, request_id)
    try:
        actions.add_comment(request=upgrade_request, actor=request.user, text=request.POST.get("text", ""))
    except actions.InputRefused as refused:
        messages.error(request, str(refused))
    else:
        messages.success(request, "Comment added.")
    return redirect("request-detail", upgrade_request.pk)


def _visible_service(user, request_id: int, service_id: int):
    try:
        service = selectors.get_service(user, service_id)
    except ServiceUpgrade.DoesNotExist:
        raise Http404("No such service.") from None
    if service.request_id != request_id:
        raise Http404("No such service.")
    return service


def _action(name: str) -> Action:
    try:
        return Action(name)
    except ValueError:
        raise Http404("No such action.") from None


def _approval_options(action: Action, data: dict, seen: dict[int, str] | None) -> dict:
    """Approve carries the EC team's choices and the plans it was shown; other actions carry none."""
    if action != Action.APPROVE:
        return {}
    return {
        "trigger_at": data["trigger_at"],
        "start_step2_on_confirmation": data["start_step2_on_confirmation"],
        "plan_fingerprints": seen,
    }


def _note_partial(notes: list[str], done: str, outcome: actions.RequestOutcome) -> None:
    """An action that left some services as they were says which it moved and why it left the rest."""
    if outcome.left:
        notes.append(f"{done}: {', '.join(service.display_name for service, _ in outcome.moved)}.")
        notes.extend(f"Left as it was: {service.display_name} — {why}" for service, why in outcome.left)


@contextmanager
def _outcome(request, success: str):
    """Map the actions' refusals to a message (or 403) and report success otherwise; notes the body
    adds (an action that applied to only some services) replace the plain success message."""
    notes: list[str] = []
    try:
        yield notes
    except workflow.NotAllowed as error:
        raise PermissionDenied(str(error)) from None
    except (actions.InputRefused, workflow.InvalidTransition, actions.StaleState) as error:
        messages.error(request, str(error))
    else:
        if not notes:
            messages.success(request, success)
        for note in notes:
            messages.warning(request, note)
