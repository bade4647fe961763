from upgrades.permissions import is_ec_team


def roles(request):
    """Role flags for the navigation."""
    user = getattr(request, "user", None)
    return {"user_is_ec_team": bool(user and is_ec_team(user))}
