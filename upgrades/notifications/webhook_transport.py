"""The only HTTP a webhook delivery makes: one POST, to an address checked just before connecting.

The host is resolved here, every address checked (`webhook_urls.addresses`), and the connection
made to the checked address itself, with the host name kept for the Host header, TLS SNI and the
certificate check: a name that resolves elsewhere a moment later (DNS rebinding) is never
connected to. No redirects are followed and no proxy from the environment is used; certificates are
checked against the system's CAs, or those of WEBHOOK_CA_BUNDLE.
"""

from dataclasses import dataclass
from urllib.parse import urlsplit

import requests
from django.conf import settings
from requests.adapters import HTTPAdapter

from upgrades.notifications import webhook_urls


@dataclass(frozen=True)
class Answer:
    status: int
    text: str


class Unreachable(Exception):
    """No answer: the host did not resolve, refused the connection, or timed out (try again)."""


class _PinnedAdapter(HTTPAdapter):
    """Connects to `address` whatever the URL's host, checking TLS against the URL's host."""

    def __init__(self, address: str):
        self._address = address
        super().__init__(max_retries=0)

    def get_connection_with_tls_context(self, request, verify, proxies=None, cert=None):
        host_params, pool_kwargs = self.build_connection_pool_key_attributes(request, verify, cert)
        if host_params["scheme"] == "https":
            pool_kwargs = {**pool_kwargs, "server_hostname": host_params["host"],
                           "assert_hostname": host_params["host"]}  # fmt: skip
        return self.poolmanager.connection_from_host(
            **{**host_params, "host": self._address}, pool_kwargs=pool_kwargs
        )


def post(url: str, body: bytes, headers: dict[str, str]) -> Answer:
    """POST `body` to `url` and return the answer; WebhookURLError if the host's addresses are not
    allowed now, Unreachable if no answer came."""
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        address = webhook_urls.addresses(parts.hostname or "", port)[0]
    except OSError as error:  # socket.gaierror: the name does not resolve (now)
        raise Unreachable(f"{parts.hostname} does not resolve: {error}") from error
    with requests.Session() as session:
        session.trust_env = False  # no proxy from the environment: we connect to `address` ourselves
        session.verify = settings.WEBHOOK_CA_BUNDLE or True  # a private CA, where one is used
        session.mount(f"{parts.scheme}://", _PinnedAdapter(address))
        try:
            response = session.post(
                url,
                data=body,
                headers={**headers, "Host": parts.netloc.rpartition("@")[2]},
                timeout=(settings.WEBHOOK_CONNECT_TIMEOUT, settings.WEBHOOK_READ_TIMEOUT),
                allow_redirects=False,
                stream=True,  # only the start of the answer is kept, for the delivery's record
            )
            with response:
                start = next(response.iter_content(500), b"")
        except requests.RequestException as error:
            raise Unreachable(f"{type(error).__name__}: {error}") from error
        return Answer(status=response.status_code, text=start.decode(errors="replace"))
