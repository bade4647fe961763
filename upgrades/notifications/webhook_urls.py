"""Which webhook URLs the portal posts to: parsed when a subscription is made, and the host's
addresses checked again at every delivery (a name may resolve elsewhere by then: DNS rebinding).

https only unless WEBHOOK_ALLOW_HTTP (embedded mode); no loopback, private, link-local or otherwise
non-global address unless WEBHOOK_ALLOW_PRIVATE.
"""

import ipaddress
import socket
from urllib.parse import urlsplit

from django.conf import settings

MAX_URL_LENGTH = 2000


class WebhookURLError(ValueError):
    """The URL may not receive webhooks; the message says why, in words for a form or the API."""


def check(url: str, *, resolve: bool = True) -> str:
    """The URL, stripped, if the portal may post to it; else WebhookURLError.

    With `resolve`, a host name is looked up too and refused if any of its addresses is not allowed;
    a name that does not resolve now passes (delivery retries, and checks again).
    """
    url = (url or "").strip()
    if not url:
        raise WebhookURLError("Enter the webhook's URL.")
    if len(url) > MAX_URL_LENGTH:
        raise WebhookURLError(f"The URL is longer than {MAX_URL_LENGTH} characters.")
    if any(ch.isspace() or ord(ch) < 32 for ch in url):
        raise WebhookURLError("The URL must not contain spaces or control characters.")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise WebhookURLError("This is not a valid URL.") from None
    allowed = ("https", "http") if settings.WEBHOOK_ALLOW_HTTP else ("https",)
    if parts.scheme not in allowed:
        raise WebhookURLError("The URL must start with https://." if allowed == ("https",) else
                              "The URL must start with https:// or http://.")  # fmt: skip
    if not parts.hostname:
        raise WebhookURLError("The URL has no host.")
    if parts.username or parts.password:
        raise WebhookURLError("The URL must not contain a user name or password.")
    host = parts.hostname
    literal = _literal(host)
    if literal is not None:
        refuse_address(literal)
    elif host == "localhost" or host.endswith(".localhost"):
        refuse_address(ipaddress.ip_address("127.0.0.1"), host)
    elif resolve:
        try:
            addresses(host, port or (443 if parts.scheme == "https" else 80))
        except socket.gaierror:
            pass  # checked again at delivery
    return url


def _literal(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def refuse_address(address, host: str = "") -> None:
    """WebhookURLError if `address` is not a public one and private receivers are not allowed."""
    if settings.WEBHOOK_ALLOW_PRIVATE:
        return
    mapped = getattr(address, "ipv4_mapped", None)
    address = mapped or address
    if address.is_global and not address.is_multicast:
        return
    kind = "a loopback" if address.is_loopback else "a private or reserved"
    subject = f"{host} resolves to {address}, " if host and host != str(address) else f"{address} is "
    raise WebhookURLError(
        f"Refused: {subject}{kind} address. Webhooks go only to public addresses unless the portal "
        "allows private ones (WEBHOOK_ALLOW_PRIVATE)."
    )


def addresses(host: str, port: int) -> list[str]:
    """The host's addresses, each allowed (else WebhookURLError); socket.gaierror if none resolve."""
    found = []
    for *_, sockaddr in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM):
        address = ipaddress.ip_address(sockaddr[0].split("%")[0])  # no IPv6 scope id
        refuse_address(address, host)
        if str(address) not in found:
            found.append(str(address))
    return found
