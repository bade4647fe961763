from django.conf import settings

from upgrades.notifications.reach import ec_team_contact
from upgrades.permissions import is_ec_team


def roles(request):
    """Role flags for the navigation, the limits free-text fields state and enforce, and how to reach
    the EC team (`templates/_ec_team.html`)."""
    user = getattr(request, "user", None)
    limits = {"reason": settings.MAX_REASON_LENGTH, "comment": settings.MAX_COMMENT_LENGTH}
    return {
        "user_is_ec_team": bool(user and is_ec_team(user)),
        "limits": limits,
        "ec_team": ec_team_contact(),
        "oidc_provider": settings.OIDC_PROVIDER_NAME if settings.OIDC_ENABLED else "",
    }
