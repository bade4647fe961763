"""The address a request came from, behind TRUSTED_PROXY_HOPS proxies that append to X-Forwarded-For.

Each trusted proxy appends the address it received the request from, so with N of them the client's
own address is the N-th entry from the right; anything left of it may be forged by the client and is
ignored. Used for the sign-in throttle's records (django-axes' AXES_CLIENT_IP_CALLABLE).
"""

from django.conf import settings


def client_address(request) -> str | None:
    hops = settings.TRUSTED_PROXY_HOPS
    forwarded = [
        part.strip() for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if part.strip()
    ]
    if hops and len(forwarded) >= hops:
        return forwarded[-hops]
    return request.META.get("REMOTE_ADDR")
