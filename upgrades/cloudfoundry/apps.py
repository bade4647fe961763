"""Requests to the EC apps themselves, through the foundation's router (not the Cloud Controller).

The EC Service names the release it runs on its health path (`GET /v1/info/` →
`{"sid", "ver", "build", "plan"}`, DESIGN §1). Probes and automatic checks ask it which release
answered; an answer is never an exception: a refused connection or a timeout is an answer too.
"""

import threading
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

import requests

from upgrades.foundations import Foundation

_sessions = threading.local()


@dataclass(frozen=True)
class AppAnswer:
    """One request's outcome: the HTTP status (None without one), its latency and the `build` named."""

    status: int | None
    latency_ms: int
    build: str = ""
    problem: str = ""  # "timeout" or "error" when there is no status

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 400

    @property
    def failure(self) -> str:
        """What went wrong, as a short key ("502", "timeout"), or "" for a good answer."""
        return "" if self.ok else (str(self.status) if self.status is not None else self.problem)

    def runs(self, release: str) -> bool:
        """Whether the answer came from `release` (`build` is the release or ends with it: `v1.<release>`)."""
        return self.ok and bool(release) and (self.build == release or self.build.endswith("." + release))


def health_url(foundation: Foundation, host: str) -> str:
    """The health path of the app at `host` (a route's host name, e.g. `<zone-id>.<domain>`)."""
    return f"https://{host}{foundation.health_path}"


def ask(foundation: Foundation, url: str, *, timeout: float) -> AppAnswer:
    """GET `url` (through the foundation's router address when it has one) and read `build`."""
    parts = urlsplit(url)
    target, headers = url, {"Accept": "application/json"}
    if foundation.router_url:
        target = f"{foundation.router_url}{parts.path or '/'}" + (f"?{parts.query}" if parts.query else "")
        headers["Host"] = parts.netloc
    session = getattr(_sessions, "session", None) or _new_session()
    started = time.monotonic()
    try:
        response = session.get(target, headers=headers, timeout=timeout, allow_redirects=False)
    except requests.Timeout:
        return AppAnswer(None, _since(started), problem="timeout")
    except requests.RequestException:
        return AppAnswer(None, _since(started), problem="error")
    latency = _since(started)
    try:
        body = response.json()
    except ValueError:
        body = None
    build = body.get("build") if isinstance(body, dict) else None
    return AppAnswer(response.status_code, latency, build if isinstance(build, str) else "")


def _new_session() -> requests.Session:
    _sessions.session = requests.Session()
    return _sessions.session


def _since(started: float) -> int:
    return round((time.monotonic() - started) * 1000)
