"""Small presentation helpers: state names in words, derived request status, durations, pictures."""

from django import template
from django.utils import timezone

from upgrades.web import topology
from upgrades.workflow import STATE_LABELS, State, request_status

register = template.Library()


@register.filter
def state_label(value: str) -> str:
    try:
        return STATE_LABELS[State(value)]
    except ValueError:
        return value


@register.filter
def status_of(upgrade_request) -> State:
    """A request's status from its (prefetched) services."""
    return request_status([service.state for service in upgrade_request.services.all()])


@register.filter
def get_item(mapping: dict, key):
    return mapping.get(key)


@register.filter
def elapsed(since) -> str:
    """How long ago `since` was, in words a person reads at a glance: "42 s", "3 min 5 s", "2 h 10 min"."""
    if not since:
        return ""
    seconds = max(int((timezone.now() - since).total_seconds()), 0)
    if seconds < 60:
        return f"{seconds} s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {seconds} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min"


@register.simple_tag
def topology_svg(picture, uid: str):
    return topology.render(picture, uid)


@register.filter
def widget(bound_field):
    """A field's widget tied to its help text and its errors, so screen readers read both with it."""
    attrs = {}
    described_by = []
    if bound_field.errors:
        attrs["aria-invalid"] = "true"
        described_by.append(f"{bound_field.auto_id}_error")
    if bound_field.help_text:
        described_by.append(f"{bound_field.auto_id}_helptext")
    if described_by:
        attrs["aria-describedby"] = " ".join(described_by)
    return bound_field.as_widget(attrs=attrs)
