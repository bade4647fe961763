"""Pages: parse input, call one service or selector, render. POST-redirect-GET for every change."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from upgrades import foundations, selectors, services, workflow
from upgrades.forms import CommentForm, QueueFilterForm, ReasonForm, UpgradeRequestForm
from upgrades.models import UpgradeRequest
from upgrades.permissions import is_ec_team, roles_for
from upgrades.workflow import STATE_LABELS, Action, Role, State


def _visible_request(user, request_id: int) -> UpgradeRequest:
    try:
        return selectors.get_request(user, request_id)
    except UpgradeRequest.DoesNotExist:
        raise Http404("No such request.") from None


@login_required
def home(request):
    visible = selectors.requests_for(request.user)
    counts = selectors.state_counts(visible)
    context = {
        "counts": [(STATE_LABELS[state], state, counts[state]) for state in State if counts.get(state)],
        "mine": selectors.my_requests(request.user)[:10],
    }
    if is_ec_team(request.user):
        context["awaiting_approval"] = selectors.filter_requests(
            visible, selectors.QueueFilters(state=State.SUBMITTED)
        )[:10]
    return render(request, "upgrades/home.html", context)


@login_required
def new_request(request):
    form = UpgradeRequestForm(request.POST or None, requester_email=request.user.email)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            created = services.submit_request(
                requester=request.user,
                services=data["service_urls"],
                plan=workflow.Plan(data["plan"]),
                release=data["release"],
                contacts=data["contacts"],
                notes=data["notes"],
            )
        except services.IntakeRejected as rejected:
            form.add_problems(rejected.problems)
        else:
            messages.success(request, f"Request {created.reference} submitted.")
            return redirect("request-detail", created.pk)
    return render(request, "upgrades/request_form.html", {"form": form})


def _list_page(request, queryset, template: str, **extra):
    page = Paginator(queryset, 25).get_page(request.GET.get("page"))
    rows = [(item, item.status_from(item.services.all())) for item in page.object_list]
    return render(request, template, {"page": page, "rows": rows, **extra})


@login_required
def my_requests(request):
    return _list_page(request, selectors.my_requests(request.user), "upgrades/my_requests.html")


@login_required
def queue(request):
    if not is_ec_team(request.user):
        raise PermissionDenied("The queue is for the EC team.")
    form = QueueFilterForm(
        request.GET or None,
        state_choices=list(STATE_LABELS.items()),
        foundation_choices=foundations.choices(),
    )
    filters = selectors.QueueFilters()
    if form.is_valid():
        filters = selectors.QueueFilters(**form.cleaned_data)
    queryset = selectors.filter_requests(selectors.requests_for(request.user), filters)
    return _list_page(request, queryset, "upgrades/queue.html", form=form)


@login_required
def request_detail(request, request_id: int):
    upgrade_request = _visible_request(request.user, request_id)
    services_list = list(upgrade_request.services.all())
    roles = roles_for(request.user, upgrade_request)
    context = {
        "req": upgrade_request,
        "status": upgrade_request.status_from(services_list),
        "services": services_list,
        "actions": selectors.request_actions(request.user, upgrade_request),
        "events": selectors.timeline(upgrade_request),
        "is_ec_team": Role.EC_TEAM in roles,
        "reason_form": ReasonForm(),
        "comment_form": CommentForm(),
        "foundation_names": dict(foundations.choices()),
    }
    return render(request, "upgrades/request_detail.html", context)


@login_required
@require_POST
def request_action(request, request_id: int, action: str):
    upgrade_request = _visible_request(request.user, request_id)
    try:
        chosen = Action(action)
    except ValueError:
        raise Http404("No such action.") from None
    form = ReasonForm(request.POST)
    reason = form.data.get("reason", "") if form.is_valid() else ""
    try:
        services.apply_request_action(
            request=upgrade_request, action=chosen, actor=request.user, reason=reason
        )
    except workflow.NotAllowed as error:
        raise PermissionDenied(str(error)) from None
    except (services.ReasonRequired, workflow.InvalidTransition, services.StaleState) as error:
        messages.error(request, str(error))
    else:
        messages.success(request, f"{upgrade_request.reference}: {workflow.ACTION_DONE[chosen].lower()}.")
    return redirect("request-detail", upgrade_request.pk)


@login_required
@require_POST
def comment(request, request_id: int):
    upgrade_request = _visible_request(request.user, request_id)
    form = CommentForm(request.POST)
    if form.is_valid():
        services.add_comment(request=upgrade_request, actor=request.user, text=form.cleaned_data["text"])
        messages.success(request, "Comment added.")
    else:
        messages.error(request, "Write something before adding a comment.")
    return redirect("request-detail", upgrade_request.pk)
