"""The deadlines on pages: the test window's countdown and extension, the retention window, and the
EC team's clean-up of what the portal left behind on CF."""

from datetime import datetime

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404, redirect
from django.urls import reverse
from django.views.decorators.http import require_POST

from upgrades import deadlines, windows, workflow
from upgrades.models import ServiceUpgrade, UpgradeRequest
from upgrades.workflow import State


def countdown(seconds: float) -> str:
    """A time left in words, to the minute: "4 days 23 h 59 min", "12 min", "less than a minute"."""
    minutes = int(seconds // 60)
    if minutes < 1:
        return "less than a minute"
    days, rest = divmod(minutes, 24 * 60)
    hours, minutes = divmod(rest, 60)
    parts = [f"{days} day{'s' if days != 1 else ''}"] if days else []
    if hours:
        parts.append(f"{hours} h")
    if minutes or not parts:
        parts.append(f"{minutes} min")
    return " ".join(parts)


def window_words(service: ServiceUpgrade, now: datetime) -> str:
    """The test window as the service card says it, or "" when it has none to show."""
    if service.state != State.AWAITING_VERIFICATION:
        return ""
    if service.test_window_ended_at is not None:
        return "ended: the EC team decides what happens next (extend it, or roll back)."
    if service.test_window_ends_at is None:
        return ""
    left = windows.seconds_left(service, now) or 0
    return f"{countdown(left)} left to test (ends {service.test_window_ends_at:%Y-%m-%d %H:%M} UTC)."


def retention_words(service: ServiceUpgrade, now: datetime) -> str:
    """How long the previous release stays restorable, or ""."""
    if service.state != State.COMPLETED or not service.restorable:
        return ""
    left = (service.blue_retained_until - now).total_seconds()
    return (
        f"The previous release is kept, stopped, for {countdown(left)} more "
        f"(until {service.blue_retained_until:%Y-%m-%d %H:%M} UTC); until then it can be restored."
    )


@login_required
@require_POST
def extend_window(request, request_id: int, service_id: int):
    """The EC team gives the users more time to test."""
    visible = UpgradeRequest.objects.visible_to(request.user)
    service = get_object_or_404(ServiceUpgrade, pk=service_id, request__in=visible, request_id=request_id)
    try:
        deadlines.extend_window(service=service, actor=request.user)
    except workflow.NotAllowed as error:
        raise PermissionDenied(str(error)) from None
    except workflow.InvalidTransition as error:
        messages.error(request, str(error))
    else:
        messages.success(request, f"{service.display_name}: test window extended.")
    return redirect(reverse("request-detail", args=[request_id]) + f"#service-{service.pk}")


@login_required
@require_POST
def clean_leftovers(request):
    """The EC team's one press: sweep CF again and remove what the portal left behind."""
    try:
        deadlines.clean_up_leftovers(actor=request.user)
    except workflow.NotAllowed as error:
        raise PermissionDenied(str(error)) from None
    messages.success(request, "Clean-up started: the list below empties as the leftovers are removed.")
    return redirect(reverse("home"))
