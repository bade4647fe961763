"""Who a user is with respect to one request: requester, contact, EC team (several at once)."""

from upgrades.models import UpgradeRequest
from upgrades.workflow import Role


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
