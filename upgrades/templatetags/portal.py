"""Small presentation helpers: state names in words, derived request status, durations, pictures,
services and foundations as people know them."""

from django import template
from django.utils import timezone
from django.utils.html import format_html
from django.utils.safestring import SafeString

from upgrades import foundations
from upgrades.web import topology
from upgrades.workflow import STATE_LABELS, STATE_MEANINGS, State, plans_label, request_status

register = template.Library()


@register.filter
def state_label(value: str) -> str:
    try:
        return STATE_LABELS[State(value)]
    except ValueError:
        return value


@register.filter
def state_meaning(value: str) -> str:
    """What a state means for the service ("Rolled back: the previous release serves …"), or ""."""
    return STATE_MEANINGS.get(value, "")


@register.filter
def status_of(upgrade_request) -> State:
    """A request's status from its (prefetched) services."""
    return request_status([service.state for service in upgrade_request.services.all()])


@register.filter
def plans_of(services) -> str:
    """The plans of a request's services in words."""
    return plans_label([service.plan for service in services])


@register.filter
def foundation_name(slug: str) -> str:
    """A foundation's display name ("Predix West / Basic") from its slug."""
    return foundations.name_of(slug)


@register.simple_tag
def service_name(service, zone_id: bool = True) -> SafeString:
    """A service as people know it: its name (until preflight learnt it, its zone ID) and its
    foundation's display name first; then, with `zone_id`, the zone ID in full."""
    where = foundations.name_of(service.foundation)
    if not service.name:
        return format_html(
            '<code class="zone-id">{}</code> <span class="muted">· {}</span>', service.zone_id, where
        )
    if zone_id:
        where = format_html('{} · <code class="zone-id">{}</code>', where, service.zone_id)
    return format_html(
        '<span class="service-name">{}</span> <span class="muted">· {}</span>', service.name, where
    )


@register.filter
def service_names(services, shown: int = 3) -> str:
    """A request's services in a summary line: "ec-acme-prod, ec-acme-nonprod", or the first
    `shown` names and how many more."""
    services = list(services)
    names = ", ".join(service.display_name for service in services[:shown])
    more = len(services) - shown
    return f"{names} and {more} more" if more > 0 else names


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
