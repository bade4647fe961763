"""What the request page shows, composed from the selectors' reads.

Each function returns plain dataclasses for one page, in a fixed number of queries whatever the number
of services, calls or events; views render them and decide nothing.
"""

from dataclasses import dataclass, field
from datetime import datetime

from django.db.models import QuerySet
from django.utils import timezone

from upgrades import contacts, deadlines, probe_reads
from upgrades.models import (
    CallLog,
    Contact,
    ContactLink,
    Delivery,
    Event,
    Preflight,
    ServiceUpgrade,
    UpgradeRequest,
)
from upgrades.notifications.outbox import MILESTONES
from upgrades.permissions import is_ec_team, roles_for
from upgrades.probe_reads import ProbeView
from upgrades.selectors import (
    get_request,
    get_service,
    request_actions,
    request_of_contact,
    timeline_of,
)
from upgrades.web import cf_compare, deadline_views, topology
from upgrades.web.next_steps import what_happens_next
from upgrades.workflow import (
    FAILED_STATE,
    FILE_AGAIN_ROLES,
    FILE_AGAIN_STATES,
    RECHECK_ROLES,
    RUNNING_STATES,
    SERVICE_ACTIONS,
    TERMINAL_STATES,
    Action,
    Plan,
    Role,
    State,
    allowed_actions,
    describe,
    plans_label,
    target_state,
)

# Plain-language buttons: (action, state it leads to) → label; how each asks before it fires.
_BUTTON_LABELS = {
    (Action.TRIGGER, State.STEP1_RUNNING): "Start Step 1",
    (Action.TRIGGER, State.STEP2_RUNNING): "Start Step 2",
    (Action.CONFIRM, State.VERIFIED): "It works",
    (Action.REPORT_PROBLEM, State.ROLLING_BACK): "Report a problem",
    (Action.RETRY, State.STEP1_RUNNING): "Retry",
    (Action.RETRY, State.STEP2_RUNNING): "Retry",
    (Action.RETRY, State.ROLLING_BACK): "Retry",
    (Action.ROLLBACK, State.ROLLING_BACK): "Roll back",
    (Action.CANCEL, State.CANCELLED): "Cancel",
    (Action.CANCEL, State.ROLLING_BACK): "Cancel",
    (Action.RESTORE, State.ROLLING_BACK): "Restore the previous release",
}
_CONFIRMATIONS = {
    (Action.ROLLBACK, State.ROLLING_BACK): (
        "Roll back this service? The old app gets the original route back alone; the new app and the "
        "temporary route are deleted.",
        "Yes, roll back",
    ),
    (Action.CANCEL, State.CANCELLED): ("Cancel the upgrade of this service?", "Yes, cancel"),
    (Action.RESTORE, State.ROLLING_BACK): (
        "Restore the previous release? The old app is started and serves the original URL alone under "
        "its own name again; the new app is deleted.",
        "Yes, restore",
    ),
    (Action.CANCEL, State.ROLLING_BACK): (
        "Cancel the upgrade of this service? Step 1 ran, so it is rolled back first.",
        "Yes, roll back and cancel",
    ),
}
PHASE_NAMES = {State.STEP1_RUNNING: "Step 1", State.STEP2_RUNNING: "Step 2", State.ROLLING_BACK: "Rollback"}
FAILED_PHASES = {failed: running for running, failed in FAILED_STATE.items()}
GATEWAY_TESTING = frozenset({State.AWAITING_VERIFICATION, State.VERIFIED})
GATEWAY_BACK = frozenset({State.COMPLETED, State.ROLLED_BACK, State.CANCELLED})
CALLS_SHOWN = 50  # on the request page; the rest on its own page
CONTACT_ROLES = frozenset({Role.CONTACT})


@dataclass(frozen=True)
class Button:
    action: Action
    label: str
    style: str = ""  # "primary" or "danger"
    reason: bool = False  # asks for a reason (required)
    question: str = ""  # asks for confirmation first
    confirm_label: str = ""
    # With a question: radio buttons (value, label) posted as `choice_field`, the first one chosen.
    choices: tuple[tuple[str, str], ...] = ()
    choice_field: str = ""
    target: str = ""  # the state a service's button moves it to


@dataclass(frozen=True)
class Progress:
    phase: str  # "Step 1", "Step 2" or "Rollback"
    words: str  # "building the droplet"
    position: int
    count: int
    detail: str  # "1 of 2 instances running"
    since: datetime | None  # when the phase started


@dataclass
class ServiceCard:
    service: ServiceUpgrade
    buttons: list[Button]
    progress: Progress | None
    failed_at: str  # the sub-step a failure stopped at, in words
    picture: topology.Picture
    gateway_before: str
    gateway_after: str
    gateway_back: str
    rollback_gone: bool
    recheck: bool
    waits_for: str  # why Step 1 may not start yet: it waits for another service's confirmation
    file_again: bool  # offer "File again" (a new request prefilled from this service)
    next_words: str  # what happens next, in a sentence or two
    window: str = ""  # the test window's countdown, in words
    extend: bool = False  # offer "Extend the test window"
    retention: str = ""  # how long the previous release stays restorable
    cf_rows: list = field(default_factory=list)  # after a failure: CF now against what the step expected
    probe: ProbeView | None = None  # the probes of the original URL through Step 2

    @property
    def uid(self) -> str:
        """A prefix for element ids, unique on the page."""
        return f"s{self.service.pk}"


@dataclass
class RequestPage:
    req: UpgradeRequest
    status: State
    cards: list[ServiceCard]
    buttons: list[Button]
    approval_waits_for: str  # why Approve is not offered yet, for the EC team
    start_all: list["StartAll"]  # "Start Step N for all", where several services may start it
    plans: str  # the services' plans in words
    events: list[Event]
    is_ec_team: bool
    poll_seconds: int | None  # None once every service is terminal
    calls: list[CallLog]  # the latest CF calls, newest first (EC team only; see recent_calls)

    @property
    def calls_shown(self) -> list[CallLog]:
        return self.calls[:CALLS_SHOWN]

    @property
    def more_calls(self) -> bool:
        return len(self.calls) > CALLS_SHOWN

    @property
    def any_test_first(self) -> bool:
        """Whether "start Step 2 on confirmation" means anything here: some service stops to be tested."""
        return any(card.service.plan == Plan.TEST_FIRST for card in self.cards)


_STYLES = {
    Action.TRIGGER: "primary",
    Action.CONFIRM: "primary",
    Action.REPORT_PROBLEM: "danger",
    Action.ROLLBACK: "danger",
    Action.RESTORE: "danger",
    Action.CANCEL: "danger",
}
# Request-wide buttons (Approve has its own form with the EC team's options).
REQUEST_BUTTONS = {
    Action.APPROVE: Button(Action.APPROVE, "Approve", "primary"),
    Action.REJECT: Button(Action.REJECT, "Reject", "danger", reason=True),
    Action.CANCEL: Button(
        Action.CANCEL,
        "Cancel",
        "danger",
        question="Cancel this request? Its services will not be upgraded; any Step 1 done is rolled back.",
        confirm_label="Yes, cancel the request",
    ),
    Action.CONFIRM: Button(Action.CONFIRM, "Confirm all services", "primary"),
}


def _button(action: Action, target: State) -> Button:
    """A service's button for `action`, which would move it to `target`."""
    question, confirm_label = _CONFIRMATIONS.get((action, target), ("", ""))
    return Button(
        action,
        _BUTTON_LABELS.get((action, target), action.replace("-", " ").capitalize()),
        _STYLES.get(action, ""),
        reason=action == Action.REPORT_PROBLEM,
        question=question,
        confirm_label=confirm_label,
        target=target,
    )


def _progress(service: ServiceUpgrade, since: datetime | None) -> Progress | None:
    state = State(service.state)
    if state not in PHASE_NAMES:
        return None
    words, position, count = describe(state, service.step)
    detail = service.progress if service.progress != words else ""  # waits often repeat the words
    return Progress(PHASE_NAMES[state], words, position, count, detail, since)


def _failed_at(service: ServiceUpgrade) -> str:
    phase = FAILED_PHASES.get(State(service.state))
    if not phase or not service.step:
        return ""
    words, _, _ = describe(phase, service.step)
    return f"{PHASE_NAMES[phase]} · {words}"


def poll_seconds(states: list[str]) -> int | None:
    """How often a request page refreshes itself: fast while work runs, slowly while it waits for
    someone, not at all once every service is terminal."""
    present = {State(state) for state in states}
    if present <= TERMINAL_STATES:
        return None
    return 2 if present & RUNNING_STATES else 10


def request_page(user, request_id: int) -> RequestPage:
    """Everything the request page (and its live fragment) shows, in a fixed number of queries.

    Raises UpgradeRequest.DoesNotExist for a request the user may not see.
    """
    req = get_request(user, request_id)
    services = list(req.services.all())
    roles = roles_for(user, req)
    buttons, waits_for = _request_buttons(user, req, services, roles)
    return _page(
        req, services, roles, is_own=req.requester_id == user.pk, buttons=buttons, waits_for=waits_for
    )


def contact_page(contact: Contact) -> RequestPage:
    """What a contact's signed link shows: the request page as a contact sees it, without an account.
    No CF calls and no request-wide buttons; a service's buttons are It works and Report a problem,
    each opening its own page (`contact_views`)."""
    req = request_of_contact(contact)
    return _page(req, list(req.services.all()), CONTACT_ROLES, is_own=False, buttons=[], waits_for="")


def _page(
    req: UpgradeRequest,
    services: list[ServiceUpgrade],
    roles: frozenset[Role],
    *,
    is_own: bool,
    buttons: list[Button],
    waits_for: str,
) -> RequestPage:
    events = timeline_of(req, services)
    team = Role.EC_TEAM in roles
    calls = recent_calls(req, services) if team and services else []
    entered, reached_step2 = _phase_facts(events)
    cards = [
        _service_card(
            service,
            req,
            roles,
            is_own=is_own,
            several=len(services) > 1,
            entered=entered.get(service.pk, ("", None)),
            reached_step2=service.pk in reached_step2,
            waits_for=service.waits_for(services),
        )
        for service in services
    ]
    probes = probe_reads.views_for(services)
    for card in cards:
        card.probe = probes.get(card.service.pk)
    return RequestPage(
        req=req,
        status=req.status_from(services),
        cards=cards,
        buttons=buttons,
        approval_waits_for=waits_for,
        start_all=_start_all(cards),
        plans=plans_label([s.plan for s in services]),
        events=events,
        is_ec_team=team,
        poll_seconds=poll_seconds([s.state for s in services]),
        calls=calls,
    )


def recent_calls(req: UpgradeRequest, services: list[ServiceUpgrade]) -> list[CallLog]:
    """The request's latest CF calls, newest first: CALLS_SHOWN of them, and one more if there are
    more. One query; each call's service is taken from `services` (the request's, already loaded)."""
    by_id = {service.pk: service for service in services}
    calls = list(CallLog.objects.filter(service__request=req).order_by("-id")[: CALLS_SHOWN + 1])
    for call in calls:
        call.service = by_id[call.service_id]
    return calls


def all_calls(user, request_id: int) -> tuple[UpgradeRequest, QuerySet[CallLog]]:
    """A visible request and every CF call made for it, newest first (for the EC team's page).
    Raises UpgradeRequest.DoesNotExist for a request the user may not see."""
    req = UpgradeRequest.objects.visible_to(user).get(pk=request_id)
    return req, CallLog.objects.filter(service__request=req).select_related("service").order_by("-id")


def _phase_facts(events: list[Event]) -> tuple[dict[int, tuple], set[int]]:
    """From the timeline: each service's last (state entered, when), and which services reached Step 2."""
    entered: dict[int, tuple] = {}
    reached_step2: set[int] = set()
    for event in events:
        if event.service_id is None:
            continue
        if event.to_state == State.STEP2_RUNNING:
            reached_step2.add(event.service_id)
        entered[event.service_id] = (event.to_state, event.created_at)
    return entered, reached_step2


def _service_card(
    service: ServiceUpgrade,
    req: UpgradeRequest,
    roles: frozenset[Role],
    *,
    is_own: bool,
    several: bool,
    entered: tuple,
    reached_step2: bool,
    waits_for: str,
) -> ServiceCard:
    state = State(service.state)
    buttons = []
    allowed = allowed_actions(
        state,
        roles,
        is_own=is_own,
        blue_gone=service.blue_deleted,
        waiting=bool(waits_for),
        restorable=service.restorable,
    )
    for action in allowed:
        # A single service is cancelled with its request; several can also be cancelled one by one.
        if action not in SERVICE_ACTIONS or (action == Action.CANCEL and not several):
            continue
        buttons.append(_button(action, target_state(action, state, roles, is_own=is_own)))
    to_state, since = entered
    original = f"-zon {service.zone_id} -sst https://{service.zone_id}.{service.domain}"
    testing = state in GATEWAY_TESTING and service.temporary_url_live
    return ServiceCard(
        service=service,
        buttons=buttons,
        progress=_progress(service, since if to_state == state else None),
        failed_at=_failed_at(service),
        picture=topology.picture_for(service, target_release=req.release.name, reached_step2=reached_step2),
        gateway_before=original if testing else "",
        gateway_after=f"-zon {service.zone_id} -sst {service.temporary_url_live}" if testing else "",
        # Only those who were given the temporary URL (a plan that stops to test) moved gateways to it.
        gateway_back=original
        if state in GATEWAY_BACK and service.temp_host and service.plan == Plan.TEST_FIRST
        else "",
        rollback_gone=service.blue_deleted and not state.is_terminal,
        recheck=state == State.SUBMITTED
        and service.preflight == Preflight.FAILED
        and bool(roles & RECHECK_ROLES),
        waits_for=waits_for,
        file_again=state in FILE_AGAIN_STATES and bool(roles & FILE_AGAIN_ROLES),
        next_words=what_happens_next(service),
        window=deadline_views.window_words(service, timezone.now()),
        extend=Role.EC_TEAM in roles and deadlines.can_extend_state(service),
        retention=deadline_views.retention_words(service, timezone.now()),
        cf_rows=cf_compare.rows(service),
    )


@dataclass(frozen=True)
class StartAll:
    """One press that starts Step `step` of every service whose own Start Step `step` is offered."""

    step: int
    services: list[ServiceUpgrade]

    @property
    def label(self) -> str:
        return f"Start Step {self.step} for all"


_STEP_STATES = {1: State.STEP1_RUNNING, 2: State.STEP2_RUNNING}


def _start_all(cards: list[ServiceCard]) -> list[StartAll]:
    """A "Start Step N for all" button per step that at least two services may start now (for one,
    its own button says it)."""
    found = []
    for step, target in _STEP_STATES.items():
        ready = [
            card.service
            for card in cards
            if any(b.action == Action.TRIGGER and b.target == target for b in card.buttons)
        ]
        if len(ready) > 1:
            found.append(StartAll(step, ready))
    return found


def _request_buttons(
    user, req: UpgradeRequest, services: list[ServiceUpgrade], roles: frozenset[Role]
) -> tuple[list[Button], str]:
    """Request-wide buttons, and why Approve is not offered yet (preflight), if so."""
    awaiting = sum(1 for s in services if s.state == State.AWAITING_VERIFICATION)
    buttons = [
        REQUEST_BUTTONS[action]
        for action in request_actions(user, req)
        # One service awaiting verification: its own "It works" button says it.
        if not (action == Action.CONFIRM and awaiting < 2)
    ]
    unchecked = [s for s in services if s.preflight != Preflight.PASSED]
    is_own = req.requester_id == user.pk
    would_approve = any(
        Action.APPROVE in allowed_actions(State(s.state), roles, is_own=is_own, checked=True)
        for s in services
    )
    waits_for = ""
    if unchecked and would_approve:
        waits_for = ", ".join(f"{s.display_name} ({s.get_preflight_display().lower()})" for s in unchecked)
    return buttons, waits_for


def file_again_initial(user, service_id: int) -> dict:
    """What "File again" prefills in the new-request form: the service's URL, its plan, and its
    request's points of contact (the release stays the recommended one). Raises
    ServiceUpgrade.DoesNotExist for a service the user may not see."""
    service = get_service(user, service_id)
    contacts = Contact.objects.filter(request_id=service.request_id).order_by("id")
    return {
        "service_urls": service.url,
        "plan": service.plan,
        "contacts": "\n".join(str(contact) for contact in contacts),
        "notes": f"Filed again after {service.request.reference} ({service.state_label.lower()}).",
    }


MAIL = Delivery.Channel.MAIL  # the mail log; webhook deliveries show in their own section


def contacts_context(upgrade_request: UpgradeRequest, user) -> dict:
    """Context for `upgrades/_contacts.html` and `upgrades/_mail_log.html` on the request page.

    Everyone who sees the request sees which of its addresses the mail server refused for good, so
    a requester learns that a contact is not being told; the EC team also sees the whole mail log."""
    links = {link.contact_id: link for link in ContactLink.objects.filter(contact__request=upgrade_request)}
    refused = {
        email.lower()
        for email in Delivery.objects.filter(
            notification__request=upgrade_request, status=Delivery.Status.FAILED, channel=MAIL
        ).values_list("recipient", flat=True)
    }
    rows = [
        {
            "id": contact.pk,
            "email": contact.email,
            "other": contact.other,  # never mailed: shown so, with the addresses
            "unsubscribed": bool(links.get(contact.pk) and links[contact.pk].unsubscribed_at),
            "undeliverable": bool(contact.email) and contact.email.lower() in refused,
        }
        for contact in Contact.objects.filter(request=upgrade_request).order_by("id")
    ]
    requester_email = upgrade_request.requester.email
    team = is_ec_team(user)
    mail_log = []
    if team:
        deliveries = Delivery.objects.filter(
            notification__request=upgrade_request, channel=MAIL
        ).select_related("notification")
        mail_log = [
            {
                "recipient": d.recipient,
                "milestone": MILESTONES[d.notification.milestone].label,
                "status": d.get_status_display(),
                "status_code": d.status,
                "attempts": d.attempts,
                "last_error": d.last_error,
                "created_at": d.created_at,
                "sent_at": d.sent_at,
            }
            for d in deliveries.order_by("-notification__created_at", "id")
        ]
    return {
        "contact_rows": rows,
        "requester_undeliverable": bool(requester_email) and requester_email.lower() in refused,
        "can_manage_contacts": contacts.may_manage(upgrade_request, user),
        "show_mail_log": team,
        "mail_log": mail_log,
    }
