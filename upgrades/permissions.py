"""Who a user is with respect to one request: requester, contact, EC team (several at once)."""

from django.contrib.auth.models import Group, Permission

from upgrades.models import UpgradeRequest
from upgrades.workflow import Role

EC_TEAM_GROUP = "EC team"


def ec_team_group() -> Group:
    """The EC team group with its `operate` permission (a migration creates it; this restores it)."""
    group, _ = Group.objects.get_or_create(name=EC_TEAM_GROUP)
    group.permissions.add(Permission.objects.get(codename="operate", content_type__app_label="upgrades"))
    return group


def is_ec_team(user) -> bool:
    return user.is_authenticated and user.has_perm("upgrades.operate")


def roles_for(user, request: UpgradeRequest) -> frozenset[Role]:
    """The user's roles on `request`; uses prefetched contacts when they are there."""
    if not user.is_authenticated:
        return frozenset()
    roles = set()
    if is_ec_team(user):
        roles.add(Role.EC_TEAM)
    if request.requester_id == user.pk:
        roles.add(Role.REQUESTER)
    email = (user.email or "").lower()
    if email and any(contact.email.lower() == email for contact in request.contacts.all()):
        roles.add(Role.CONTACT)
    return frozenset(roles)
