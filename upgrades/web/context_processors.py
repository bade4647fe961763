from django.conf import settings

from upgrades.permissions import is_ec_team


def roles(request):
    """Role flags for the navigation, and the limits free-text fields state and enforce."""
    user = getattr(request, "user", None)
    limits = {"reason": settings.MAX_REASON_LENGTH, "comment": settings.MAX_COMMENT_LENGTH}
    return {"user_is_ec_team": bool(user and is_ec_team(user)), "limits": limits}
