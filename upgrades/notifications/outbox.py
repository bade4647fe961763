"""Who is told what, written to the outbox in the same transaction as the change that causes it.

A milestone reached by services of one request within NOTIFY_GROUP_SECONDS makes one notification (one
mail per recipient) covering them all; a service arriving later, or the same service again (a retried
step), makes a new one. Rendering from `templates/emails/<milestone>/` happens at send time, from the
snapshot stored on the notification (`rendering`; `sender` sends).

Services of a campaign send none of their requests' users' mails: their contacts get one mail per
campaign and milestone (`CAMPAIGN_MILESTONES`) listing all their services in the campaign that
reached it within CAMPAIGN_NOTIFY_GROUP_SECONDS, starting with the notice that their wave is
scheduled. One notification holds every recipient's services, each service's facts naming its
recipients; each delivery's mail lists that recipient's own.

Webhook subscriptions (portal-wide, the request's, the services' campaigns') get a delivery of each
notification they want, beside the mails (`webhooks.add_deliveries`).
"""

from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from upgrades import dispatch, foundations
from upgrades.models import (
    Contact,
    ContactLink,
    Delivery,
    Event,
    Notification,
    NotificationEntry,
    ServiceUpgrade,
    UpgradeRequest,
)
from upgrades.notifications import webhooks
from upgrades.permissions import is_ec_team
from upgrades.workflow import Plan, State

USERS, TEAM = Notification.Audience.USERS, Notification.Audience.TEAM


@dataclass(frozen=True)
class Milestone:
    """A kind of mail: its template directory, its words in subjects and the mail log, its audience."""

    name: str
    label: str
    audience: str


MILESTONES = {
    m.name: m
    for m in (
        Milestone("received", "Request received", USERS),
        Milestone("wave_scheduled", "Upgrade scheduled", USERS),
        Milestone("approved", "Approved", USERS),
        Milestone("rejected", "Rejected", USERS),
        Milestone("step1_started", "Step 1 started", USERS),
        Milestone("step1_complete", "Step 1 complete", USERS),
        Milestone("reminder", "Reminder", USERS),
        Milestone("verified", "Confirmed: it works", USERS),
        Milestone("step2_started", "Step 2 started", USERS),
        Milestone("completed", "Completed", USERS),
        Milestone("failed", "Failed", USERS),
        Milestone("rolled_back", "Rolled back", USERS),
        Milestone("cancelled", "Cancelled", USERS),
        Milestone("new_request", "New request", TEAM),
        Milestone("preflight_failed", "Preflight failed", TEAM),
        Milestone("confirmed", "User confirmed it works", TEAM),
        Milestone("problem_reported", "User reported a problem", TEAM),
        Milestone("step_failed", "Step failed", TEAM),
        Milestone("window_reminder", "Test window ends soon", USERS),
        Milestone("window_ended", "Test window ended", TEAM),
        Milestone("plan_changed", "Plan changed since approval", TEAM),
    )
}

# The milestones a service reaches by entering a state (rolling back is decided by who asked).
_ON_ENTERING = {
    State.APPROVED: ("approved",),
    State.REJECTED: ("rejected",),
    State.CANCELLED: ("cancelled",),
    State.STEP1_RUNNING: ("step1_started",),
    State.AWAITING_VERIFICATION: ("step1_complete",),
    State.VERIFIED: ("verified", "confirmed"),
    State.STEP2_RUNNING: ("step2_started",),
    State.COMPLETED: ("completed",),
    State.STEP1_FAILED: ("failed", "step_failed"),
    State.STEP2_FAILED: ("failed", "step_failed"),
    State.ROLLBACK_FAILED: ("failed", "step_failed"),
    State.ROLLED_BACK: ("rolled_back",),
}


# --- Hooks called by `actions`, inside the transaction of the change ---------------------------


def on_submitted(request: UpgradeRequest) -> None:
    """A request was filed: tell its requester and contacts, and the EC team."""
    services = list(request.services.all())
    for name in ("received", "new_request"):
        _record(request, name, [(service, None) for service in services])


def on_transition(*, service: ServiceUpgrade, source: State, target: State, event: Event) -> None:
    """A service changed state: record the milestone notifications it belongs to."""
    names = _ON_ENTERING.get(State(target), ())
    if target == State.ROLLING_BACK and _reported_by_user(service, source, event):
        names = ("problem_reported",)
    for name in names:
        if service.campaign_id and MILESTONES[name].audience == USERS:
            if name in CAMPAIGN_MILESTONES:
                _record_for_campaign(service.campaign_id, name, [service_facts(service, event)], [service])
            continue
        _record(service.request, name, [(service, event)])


def on_wave_scheduled(*, campaign_id: int, services: list[ServiceUpgrade], starts_at) -> None:
    """A campaign's wave was scheduled to start at `starts_at` (None: when a person continues): give
    its services' contacts advance notice."""
    when = starts_at.isoformat() if starts_at else ""
    facts = [service_facts(service, None) | {"starts_at": when} for service in services]
    _record_for_campaign(campaign_id, "wave_scheduled", facts, services)


def on_window_reminder(service: ServiceUpgrade, ends_at) -> None:
    """The test window ends at `ends_at`: remind the users (a new mail per reminder)."""
    _record(
        service.request, "window_reminder", [(service, None)], extra={"window_ends_at": ends_at.isoformat()}
    )


def on_window_ended(service: ServiceUpgrade, event: Event | None) -> None:
    """The test window ended without a confirmation: tell the EC team."""
    _record(service.request, "window_ended", [(service, event)])


def on_preflight_failed(service: ServiceUpgrade) -> None:
    """Preflight found a problem: tell the EC team."""
    _record(service.request, "preflight_failed", [(service, None)])


def on_plan_changed(service: ServiceUpgrade, event: Event) -> None:
    """Step 1 found CF changed since the plan was approved and sent the service back for approval:
    tell the EC team, with the difference (the event's message)."""
    _record(service.request, "plan_changed", [(service, event)])


def _reported_by_user(service: ServiceUpgrade, source: State, event: Event) -> bool:
    """Rolling back from awaiting verification because a requester or contact reported a problem
    (the EC team rolling back or cancelling is their own doing, not news to them)."""
    if source != State.AWAITING_VERIFICATION or service.rollback_outcome == State.CANCELLED:
        return False
    if event.actor is None and event.actor_label == "system":
        return False  # the portal's own doing: the test window ended
    return event.actor is None or not is_ec_team(event.actor)


# The users' milestones a campaign's contacts are told of (the others are the campaign's doing).
CAMPAIGN_MILESTONES = frozenset(
    {"wave_scheduled", "step1_complete", "completed", "failed", "rolled_back", "cancelled"}
)


# --- The outbox ---------------------------------------------------------------------------------


def service_facts(service: ServiceUpgrade, event: Event | None) -> dict:
    """What a mail says about a service, as it stands now (stored, so later changes do not alter it).

    `actor` and `message` say who caused the change and why; where the change is the end of a
    rollback (the system's doing), they are those of the person who asked for the rollback.
    `temporary_url` is set only once a Step 1 mail gave it to people (never for back to back).
    """
    actor, message = (event.actor_label, event.message) if event else ("", "")
    started = _rollback_start(service, event)
    if started is not None:
        actor, message = started.actor_label, started.message
    return {
        "id": service.pk,
        "name": service.name,  # empty until preflight learnt it: mails then name the zone ID
        "zone_id": service.zone_id,
        "domain": service.domain,
        "foundation": service.foundation,
        "foundation_name": foundations.name_of(service.foundation),
        "url": f"https://{service.zone_id}.{service.domain}",
        "temporary_url": _temporary_url_given(service),
        "plan": str(service.plan),
        "waits_for": service.after.display_name if service.after_id else "",
        "followers": [follower.display_name for follower in service.followers.order_by("id")],
        "step2_on_confirmation": service.start_step2_on_confirmation,
        "old_release": service.blue_release,
        "state": str(service.state),
        "state_label": State(service.state).label,
        "from_state": str(event.from_state) if event else "",
        "step": service.step,
        "error": service.error,
        "preflight": service.preflight_message,
        "message": message,
        "actor": actor,
        "problem_reported": started is not None
        and _reported_by_user(service, State(started.from_state), started),
    }


def _temporary_url_given(service: ServiceUpgrade) -> str:
    """The temporary URL, if the Step 1 mail gave it (the service awaited verification), else ""."""
    if not service.temp_host or service.plan == Plan.BACK_TO_BACK:
        return ""
    if not service.events.filter(to_state=State.AWAITING_VERIFICATION).exists():
        return ""
    return f"https://{service.temp_host}.{service.domain}"


def _rollback_start(service: ServiceUpgrade, event: Event | None) -> Event | None:
    """The person's event that started the rollback this event ends, if it ends one."""
    if event is None or event.from_state != State.ROLLING_BACK:
        return None
    return service.events.filter(to_state=State.ROLLING_BACK).order_by("-created_at", "-id").first()


def _record(
    request: UpgradeRequest,
    name: str,
    entries: list[tuple[ServiceUpgrade, Event | None]],
    extra: dict | None = None,
) -> None:
    """Add services to the open notification of this milestone, or open a new one with its deliveries.

    The request row is locked so that concurrent transitions of one request's services, and the sender
    sealing a notification, take turns: a service never joins a mail that already went out.
    """
    milestone = MILESTONES[name]
    with transaction.atomic():
        UpgradeRequest.objects.select_for_update().filter(pk=request.pk).first()
        now = timezone.now()
        ids = [service.pk for service, _ in entries]
        notification = (
            Notification.objects.filter(request=request, milestone=name, sealed=False, ready_at__gt=now)
            .exclude(services__in=ids)
            .order_by("-id")
            .first()
        )
        if notification is None:
            window = timedelta(seconds=settings.NOTIFY_GROUP_SECONDS)
            notification = Notification.objects.create(
                request=request, milestone=name, audience=milestone.audience, ready_at=now + window
            )
            _create_deliveries(notification, recipients(request, milestone.audience))
            _send_when_ready(notification)
        _add_entries(
            notification, [service_facts(service, event) | (extra or {}) for service, event in entries]
        )
        notification.services.add(*ids)
        webhooks.add_deliveries(notification, [service for service, _ in entries])


def _record_for_campaign(
    campaign_id: int, name: str, facts: list[dict], services: list[ServiceUpgrade]
) -> None:
    """Add services to the campaign's open notification of this milestone (a service already in it is
    replaced: it reached the milestone again), and a delivery for each new recipient."""
    mailed = _mailed_contacts([service.request_id for service in services])
    for fact, service in zip(facts, services, strict=True):
        fact.update(
            wave=service.wave, request_id=service.request_id, recipients=mailed.get(service.request_id, [])
        )
    with transaction.atomic():
        notification = _open_campaign_notification(campaign_id, name)
        ids = {service.pk for service in services}
        notification.entries.filter(service__in=ids).delete()
        _add_entries(notification, facts)
        notification.services.add(*ids)
        webhooks.add_deliveries(notification, services)
        emails = _unique(email for fact in facts for email in fact["recipients"])
        Delivery.objects.bulk_create(
            [
                Delivery(notification=notification, recipient=e, next_attempt_at=notification.ready_at)
                for e in emails
            ],
            ignore_conflicts=True,  # a recipient of an earlier service of this notification already has one
        )


def _add_entries(notification: Notification, facts: list[dict]) -> None:
    NotificationEntry.objects.bulk_create(
        NotificationEntry(notification=notification, service_id=fact["id"], facts=fact) for fact in facts
    )


def _open_campaign_notification(campaign_id: int, name: str) -> Notification:
    """The campaign's unsealed notification of this milestone, locked (the sender's seal waits for
    us), or a new one. Two services opening one at once: the unique index lets one win, the other
    joins it."""
    for _ in range(3):
        found = (
            Notification.objects.select_for_update()
            .filter(campaign_id=campaign_id, milestone=name, sealed=False)
            .first()
        )
        if found is not None:
            return found
        ready_at = timezone.now() + timedelta(seconds=settings.CAMPAIGN_NOTIFY_GROUP_SECONDS)
        try:
            with transaction.atomic():
                created = Notification.objects.create(
                    campaign_id=campaign_id, milestone=name, audience=USERS, ready_at=ready_at
                )
        except IntegrityError:
            continue  # another transaction opened it first: join theirs
        _send_when_ready(created)
        return created
    raise RuntimeError(f"No open {name} notification for campaign {campaign_id} after three tries.")


def _mailed_contacts(request_ids: list[int]) -> dict[int, list[str]]:
    """request id -> its contacts' email addresses, those who unsubscribed left out."""
    contacts = (
        Contact.objects.filter(request_id__in=request_ids)
        .exclude(email="")
        .filter(Q(link__isnull=True) | Q(link__unsubscribed_at__isnull=True))
        .order_by("id")
    )
    found: dict[int, list[str]] = {}
    for request_id, email in contacts.values_list("request_id", "email"):
        found.setdefault(request_id, []).append(email)
    return found


def _create_deliveries(notification: Notification, emails: list[str]) -> None:
    Delivery.objects.bulk_create(
        [
            Delivery(notification=notification, recipient=email, next_attempt_at=notification.ready_at)
            for email in emails
        ]
    )


def _send_when_ready(notification: Notification) -> None:
    """Enqueue the send on commit, to run once the grouping window closes. A broker outage here only
    delays the mail: beat sends whatever is pending."""
    countdown = max(0.0, (notification.ready_at - timezone.now()).total_seconds())
    dispatch.on_commit(dispatch.SEND_NOTIFICATION, notification.pk, countdown=countdown)


def ec_team_emails() -> list[str]:
    """The EC team's addresses: EC_TEAM_EMAILS when set, else active users holding `operate` through
    the EC team group or directly (a superuser is mailed only if they hold it explicitly)."""
    if settings.EC_TEAM_EMAILS:
        return _unique(settings.EC_TEAM_EMAILS)
    perm = Q(codename="operate", content_type__app_label="upgrades")
    users = get_user_model().objects.filter(is_active=True).exclude(email="")
    holders = users.filter(
        Q(groups__permissions__in=_perms(perm)) | Q(user_permissions__in=_perms(perm))
    ).distinct()
    return _unique(holders.order_by("email").values_list("email", flat=True))


def _perms(query: Q):
    from django.contrib.auth.models import Permission

    return Permission.objects.filter(query)


def recipients(request: UpgradeRequest, audience: str) -> list[str]:
    """Who gets a mail: the requester and the subscribed contacts, or the EC team."""
    if audience == TEAM:
        return ec_team_emails()
    unsubscribed = set(
        ContactLink.objects.filter(contact__request=request, unsubscribed_at__isnull=False).values_list(
            "contact__email", flat=True
        )
    )
    contacts = [
        c.email
        for c in Contact.objects.filter(request=request).exclude(email="")
        if c.email not in unsubscribed
    ]
    return _unique([request.requester.email, *contacts])


def _unique(emails) -> list[str]:
    seen: list[str] = []
    for email in emails:
        email = (email or "").strip()
        if email and email.lower() not in {s.lower() for s in seen}:
            seen.append(email)
    return seen


# --- Reminders (beat) ---------------------------------------------------------------------------


def queue_reminders(now=None) -> int:
    """Remind users of Step 1 mails older than NOTIFY_REMINDER_HOURS whose services still await
    confirmation; one reminder per such mail. Returns how many reminders were queued."""
    now = now or timezone.now()
    due = Notification.objects.filter(
        milestone="step1_complete",
        campaign__isnull=True,  # a campaign's contacts are reminded by the EC team, not per request
        reminder__isnull=True,
        created_at__lte=now - timedelta(hours=settings.NOTIFY_REMINDER_HOURS),
        services__state=State.AWAITING_VERIFICATION,
    ).distinct()
    queued = 0
    for original in due.select_related("request"):
        waiting = set(
            original.services.filter(state=State.AWAITING_VERIFICATION).values_list("pk", flat=True)
        )
        facts = [f for f in original.facts() if f["id"] in waiting]
        try:
            with transaction.atomic():
                reminder = Notification.objects.create(
                    request=original.request,
                    milestone="reminder",
                    audience=USERS,
                    ready_at=now,
                    reminder_of=original,
                )
                _add_entries(reminder, facts)
                reminder.services.add(*waiting)
                _create_deliveries(reminder, recipients(original.request, USERS))
                webhooks.add_deliveries(reminder, [])
                _send_when_ready(reminder)
        except IntegrityError:
            continue  # another beat run queued it first
        queued += 1
    return queued
