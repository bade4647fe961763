"""Small presentation filters: state names in words, derived request status, dict lookup."""

from django import template

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
