"""Deadlines: the test window (reminders, its end, extensions) and the retention window's clean-up
claims, and what the sweep found left behind. The database side only; CF calls are the engine's
(`upgrades.engine.cleanup`), made outside these transactions.

Every write is conditional on what it read, so beat running twice, or beside an EC team's press,
does each thing once: a reminder row is unique per (service, round, offset); the end of a window is
claimed by setting `test_window_ended_at` where it was empty; an old app is claimed for deletion by
setting `blue_deleted` where the retention window had ended and it was still kept, and the claim is
over only once CF was seen without it (`blue_removed_at`), so a failed deletion is retried.
"""

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from upgrades import actions, dispatch, windows, workflow
from upgrades.models import Event, Leftover, ServiceUpgrade, WindowReminder, version_bump
from upgrades.notifications import outbox
from upgrades.permissions import roles_for
from upgrades.workflow import Role, State

log = logging.getLogger(__name__)

ROLLBACK, ESCALATE = "rollback", "escalate"


def check_windows(now: datetime | None = None) -> dict:
    """Beat's round: remind where a reminder is due, and end the windows that ran out."""
    now = now or timezone.now()
    running = ServiceUpgrade.objects.filter(
        state=State.AWAITING_VERIFICATION,
        test_window_ends_at__isnull=False,
        test_window_ended_at__isnull=True,
    )
    reminded = sum(_remind(service, now) for service in running.filter(test_window_ends_at__gt=now))
    ended = sum(_end(service, now) for service in running.filter(test_window_ends_at__lte=now))
    return {"reminded": reminded, "ended": ended}


def _due_offset(service: ServiceUpgrade, now: datetime) -> int | None:
    """The smallest reminder offset whose time has come, or None. Reminders that came due together
    (a short window, or an extension) make one mail: the one nearest the end."""
    left = (service.test_window_ends_at - now).total_seconds()
    due = [offset for offset in settings.TEST_WINDOW_REMINDERS if 0 < left <= offset]
    return min(due) if due else None


def _remind(service: ServiceUpgrade, now: datetime) -> int:
    offset = _due_offset(service, now)
    this_round = WindowReminder.objects.filter(service=service, round=service.test_window_round)
    if offset is None or this_round.filter(offset_seconds=offset).exists():
        return 0
    # Offsets above the due one are passed over for good (their time has gone): recorded unsent.
    rows = [
        WindowReminder(service=service, round=service.test_window_round, offset_seconds=o)
        for o in settings.TEST_WINDOW_REMINDERS
        if o > offset
    ]
    try:
        with transaction.atomic():
            WindowReminder.objects.create(
                service=service, round=service.test_window_round, offset_seconds=offset
            )
            WindowReminder.objects.bulk_create(rows, ignore_conflicts=True)
            outbox.on_window_reminder(service, service.test_window_ends_at)
    except IntegrityError:
        return 0  # a concurrent round recorded it first: its mail is the one
    return 1


def _end(service: ServiceUpgrade, now: datetime) -> int:
    """The window ran out: claim its end, tell the EC team, and roll back or leave the service waiting
    for them (its clock stopped) as TEST_WINDOW_ON_END says."""
    with transaction.atomic():
        claimed = ServiceUpgrade.objects.filter(
            pk=service.pk, state=State.AWAITING_VERIFICATION, test_window_ended_at__isnull=True
        ).update(test_window_ended_at=now, **version_bump())
        if claimed != 1:
            return 0
        service.refresh_from_db()
        if settings.TEST_WINDOW_ON_END == ROLLBACK:
            event = actions.transition(
                service,
                target=State.ROLLING_BACK,
                actor=actions.SYSTEM,
                message="The test window ended without a confirmation: rolling back, as configured.",
                updates={"error": "", "rollback_outcome": State.ROLLED_BACK},
            )
        else:
            ServiceUpgrade.objects.filter(pk=service.pk).update(test_window_ends_at=None, test_window_left=0)
            event = _note(service, "The test window ended without a confirmation: waiting for the EC team.")
        outbox.on_window_ended(service, event)
    return 1


def _note(service: ServiceUpgrade, message: str, actor=None) -> Event:
    return Event.objects.create(
        request_id=service.request_id,
        service=service,
        kind=Event.Kind.NOTE,
        actor=actor,
        actor_label=actor.get_username() if actor else actions.SYSTEM.label,
        message=message,
    )


def can_extend_state(service: ServiceUpgrade) -> bool:
    """A test window can be extended while its test-first service awaits the users' test."""
    return service.state == State.AWAITING_VERIFICATION and service.plan == workflow.Plan.TEST_FIRST


def extend_window(*, service: ServiceUpgrade, actor, seconds: float | None = None) -> ServiceUpgrade:
    """Give the users more time: the window ends `seconds` (TEST_WINDOW_EXTENSION_SECONDS) later than
    it would (or than now, once it ended), and its clock runs again. Raises workflow.NotAllowed (not
    the EC team) or workflow.InvalidTransition (the service does not await a test)."""
    if Role.EC_TEAM not in roles_for(actor, service.request):
        raise workflow.NotAllowed("Only the EC team can extend a test window.")
    seconds = settings.TEST_WINDOW_EXTENSION_SECONDS if seconds is None else seconds
    with transaction.atomic():
        locked = ServiceUpgrade.objects.select_for_update().get(pk=service.pk)
        if not can_extend_state(locked):
            raise workflow.InvalidTransition(
                f"Only a test-first service awaiting verification has a test window to extend; "
                f"this one is {State(locked.state).label.lower()}."
            )
        now = timezone.now()
        fields = windows.extended(locked, now, seconds)
        ServiceUpgrade.objects.filter(pk=locked.pk).update(**fields, **version_bump())
        _note(
            locked,
            f"Test window extended by {_duration(seconds)}: "
            f"it now ends {fields['test_window_ends_at']:%Y-%m-%d %H:%M} UTC.",
            actor,
        )
    service.refresh_from_db()
    return service


def _duration(seconds: float) -> str:
    delta = timedelta(seconds=seconds)
    if delta.days and not delta.seconds:
        return f"{delta.days} day{'s' if delta.days != 1 else ''}"
    hours = seconds / 3600
    return f"{hours:g} hour{'s' if hours != 1 else ''}" if hours >= 1 else f"{seconds:g} s"


# --- Retention ---------------------------------------------------------------------------------


def claim_expired_retentions(now: datetime | None = None) -> list[ServiceUpgrade]:
    """Completed services whose old app's retention window ended and that CF has not yet been seen
    without it. Each is claimed for deletion once (`blue_deleted`: from here on it cannot be
    restored, and the note is written once); a claim whose deletion failed is handed out again on
    the next round until `record_blue_removed`. The caller deletes the apps on CF."""
    now = now or timezone.now()
    due = ServiceUpgrade.objects.filter(
        state=State.COMPLETED, blue_retained_until__lte=now, blue_removed_at__isnull=True
    ).exclude(blue_app_guid="")
    claimed = []
    for service in due:
        with transaction.atomic():
            won = ServiceUpgrade.objects.filter(
                pk=service.pk, state=State.COMPLETED, blue_deleted=False, blue_retained_until__lte=now
            ).update(blue_deleted=True, **version_bump())
            if won == 1:
                _note(service, "The retention window ended: the previous release's app is deleted.")
        service.refresh_from_db()
        if service.blue_deleted and service.blue_removed_at is None:
            claimed.append(service)
    return claimed


def record_blue_removed(service: ServiceUpgrade, note: str = "") -> bool:
    """The claimed old app is gone from CF (or is no longer the portal's to delete, said in `note`):
    the retention clean-up of this service is over. True for the call that recorded it."""
    with transaction.atomic():
        done = ServiceUpgrade.objects.filter(
            pk=service.pk, blue_deleted=True, blue_removed_at__isnull=True
        ).update(blue_removed_at=timezone.now(), **version_bump())
        if done == 1 and note:
            _note(service, note)
    return done == 1


def note_blue_kept(service: ServiceUpgrade, note: str) -> None:
    """Tell the EC team (once per reason) why a claimed old app is still on CF; it is retried."""
    if not service.events.filter(kind=Event.Kind.NOTE, message=note).exists():
        _note(service, note)


# --- Leftovers ---------------------------------------------------------------------------------


def record_leftovers(foundation: str, found: list[dict], now: datetime) -> None:
    """The sweep's findings on one foundation replace the previous ones."""
    with transaction.atomic():
        Leftover.objects.filter(foundation=foundation).exclude(guid__in=[f["guid"] for f in found]).delete()
        for facts in found:
            Leftover.objects.update_or_create(
                foundation=foundation, guid=facts["guid"], defaults={**facts, "found_at": now}
            )


def forget_leftover(foundation: str, guid: str) -> None:
    Leftover.objects.filter(foundation=foundation, guid=guid).delete()


def clean_up_leftovers(*, actor) -> None:
    """The EC team's press: sweep again and remove what is found (a task, on commit)."""
    if not actor.has_perm("upgrades.operate"):
        raise workflow.NotAllowed("Only the EC team can clean up leftovers.")
    log.info("leftover clean-up asked for by %s", actor.get_username())
    dispatch.on_commit(dispatch.SWEEP_LEFTOVERS, True)
