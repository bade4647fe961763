"""HTTP to one CF foundation: discovery, UAA tokens, retries, rate limits, pagination, call records.

Rules (from the CF CLI and ``cf-api-notes.md`` §2):
- Tokens are cached per process, keyed by foundation and identity, and renewed when less than
  ``REFRESH_MARGIN`` seconds remain (a quarter of the lifetime for very short-lived tokens).
  A 401 ``CF-InvalidAuthToken`` renews the token once and replays the request once.
- Network errors and 5xx are retried with capped exponential backoff for GET/PUT/PATCH/DELETE only;
  a POST is never replayed blindly (steps make POSTs safe by observing first).
- A 429 waits ``Retry-After`` when that is short (CC refused the request without acting on it, so
  this holds for POST too); a longer wait raises ``RateLimited`` so the caller can re-enqueue.
- Every HTTP exchange, UAA included, is reported to ``on_call``; tokens and bodies are never logged.
"""

from __future__ import annotations

import logging
import os
import random
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import requests
from requests.auth import AuthBase

from ecportal import logcontext
from upgrades import metrics
from upgrades.cloudfoundry.errors import (
    CFError,
    RateLimited,
    Transient,
    Unauthorized,
    UnexpectedResponse,
    from_response,
)

log = logging.getLogger(__name__)

IDEMPOTENT = frozenset({"GET", "HEAD", "PUT", "PATCH", "DELETE"})
REFRESH_MARGIN = 60.0
MAX_PAGES = 1000


@dataclass(frozen=True)
class CallRecord:
    """One HTTP exchange with CF: ``status`` is None when no answer came (network error)."""

    method: str
    path: str  # path and query, without scheme and host
    status: int | None
    duration_ms: int
    request_id: str | None


@dataclass
class _Token:
    access_token: str
    expires_at: float  # time.time() after which CF refuses it
    lifetime: float
    refresh_token: str | None = None

    def fresh(self) -> bool:
        margin = min(REFRESH_MARGIN, self.lifetime / 4)
        return time.time() < self.expires_at - margin


# One token per (foundation, client, user) shared by every client object in this process.
_TOKENS: dict[tuple[str, str, str | None], _Token] = {}
_TOKENS_LOCK = threading.Lock()


def _reset_after_fork() -> None:
    global _TOKENS_LOCK
    _TOKENS_LOCK = threading.Lock()  # a lock held by another thread at fork time would never be released


os.register_at_fork(after_in_child=_reset_after_fork)


def forget_tokens() -> None:
    """Drop every cached token (tests, credential rotation)."""
    with _TOKENS_LOCK:
        _TOKENS.clear()


class _Bearer(AuthBase):
    """A UAA token as the request's auth. Sent as a bare header instead, `requests` would look in
    `.netrc` for credentials on every call, and an entry there for the API host would replace it."""

    def __init__(self, token: str):
        self.token = token

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["Authorization"] = f"bearer {self.token}"
        return request


class Transport:
    """Authenticated JSON over HTTP to one foundation's Cloud Controller."""

    def __init__(
        self,
        api_url: str,
        *,
        client_id: str,
        client_secret: str,
        username: str | None = None,
        password: str | None = None,
        timeout: tuple[float, float] = (5, 30),
        on_call: Callable[[CallRecord], None] | None = None,
        before_call: Callable[[], None] | None = None,
        max_retries: int = 3,
        backoff_base: float = 0.5,
        backoff_cap: float = 8.0,
        max_retry_after: float = 10.0,
        session: requests.Session | None = None,
        access_token: str | None = None,
    ):
        """``access_token``: call CF as the person whose token it is (their sign-in's token, used
        as it is: never renewed nor shared), instead of logging in with the client's credentials."""
        self.api_url = api_url.rstrip("/")
        self.client_id = client_id
        self._client_secret = client_secret
        self._username = username
        self._password = password
        self.timeout = timeout
        self.on_call = on_call
        self.before_call = before_call
        self.max_retries = max_retries
        self.backoff_base = backoff_base
        self.backoff_cap = backoff_cap
        self.max_retry_after = max_retry_after
        self._session = session or requests.Session()
        self._links: dict[str, Any] | None = None
        self._token_key = (self.api_url, client_id, username)
        self._own_token = access_token
        self._answers: dict[tuple, dict] | None = None  # see `one_look`

    def close(self) -> None:
        """Close the connections this transport keeps open (for short-lived clients)."""
        self._session.close()

    # -- discovery ---------------------------------------------------------------------------

    def root_links(self) -> dict[str, Any]:
        """``links`` of ``GET /`` (cached): cloud_controller_v3, login, uaa, ..."""
        if self._links is None:
            response = self._send("GET", self.api_url + "/", authenticated=False)
            self._links = self._json(response).get("links", {})
        return self._links

    @property
    def api_version(self) -> str | None:
        return ((self.root_links().get("cloud_controller_v3") or {}).get("meta") or {}).get("version")

    def _uaa_url(self) -> str:
        links = self.root_links()
        for name in ("login", "uaa"):
            if (links.get(name) or {}).get("href"):
                return links[name]["href"].rstrip("/")
        return self.api_url

    def _token_url(self) -> str:
        return self._uaa_url() + "/oauth/token"

    def uaa_info(self) -> dict:
        """UAA's public ``GET /info`` (no token): whether the foundation's UAA answers."""
        return self._json(self._send("GET", self._uaa_url() + "/info", authenticated=False))

    # -- UAA ---------------------------------------------------------------------------------

    def _access_token(self) -> str:
        if self._own_token is not None:
            return self._own_token
        with _TOKENS_LOCK:
            token = _TOKENS.get(self._token_key)
        if token is None or not token.fresh():
            token = self._renew(token)
        return token.access_token

    def _renew(self, stale: _Token | None) -> _Token:
        """Get a new token: the refresh grant when we hold a refresh token, else a full login."""
        token = None
        if stale is not None and stale.refresh_token:
            try:
                token = self._request_token(
                    {"grant_type": "refresh_token", "refresh_token": stale.refresh_token}
                )
            except Unauthorized:
                token = None  # refresh token expired or revoked: log in again
        if token is None:
            if self._username is not None:
                form = {
                    "grant_type": "password",
                    "username": self._username,
                    "password": self._password or "",
                }
            else:
                form = {"grant_type": "client_credentials"}
            token = self._request_token(form)
        with _TOKENS_LOCK:
            _TOKENS[self._token_key] = token
        return token

    def _request_token(self, form: dict[str, str]) -> _Token:
        response = self._send(
            "POST",
            self._token_url(),
            authenticated=False,
            data=form,
            auth=(self.client_id, self._client_secret),
            headers={"Accept": "application/json"},
        )
        body = self._json(response)
        lifetime = float(body.get("expires_in") or 0)
        return _Token(body["access_token"], time.time() + lifetime, lifetime, body.get("refresh_token"))

    def _invalidate(self, used: str) -> None:
        with _TOKENS_LOCK:
            current = _TOKENS.get(self._token_key)
            # Another thread may already have renewed it; only drop the token this request used.
            if current is not None and current.access_token == used:
                del _TOKENS[self._token_key]

    # -- requests ----------------------------------------------------------------------------

    def request(self, method: str, path: str, *, params=None, json=None) -> requests.Response:
        """Call CC with a token; ``path`` is relative to the API URL or an absolute href."""
        url = path if path.startswith("http") else self.api_url + path
        return self._send(method, url, params=params, json=json, authenticated=True)

    def _send(self, method: str, url: str, *, authenticated: bool, **kwargs) -> requests.Response:
        """One logical call: the exchange plus the replay/retry rules of the module docstring."""
        base_headers = dict(kwargs.pop("headers", None) or {"Accept": "application/json"})
        attempt, replayed = 0, False
        while True:
            token = self._access_token() if authenticated else None
            if token:
                kwargs["auth"] = _Bearer(token)
            response = self._exchange(method, url, base_headers, attempt, kwargs)
            if response is None:  # a network error that may be retried
                attempt += 1
                continue
            status = response.status_code
            if status < 400:
                return response
            body = self._json_or_none(response)
            error = from_response(status, body, response.headers.get("X-Vcap-Request-Id"))
            renewable = token and self._own_token is None
            if status == 401 and renewable and error.title == "CF-InvalidAuthToken" and not replayed:
                self._invalidate(token)  # expired mid-run: renew once, replay once
                replayed = True
            elif status == 429 and attempt < self.max_retries:
                self._wait_rate_limit(response, error)  # raises when Retry-After is too long
                attempt += 1
            elif status >= 500 and method in IDEMPOTENT and attempt < self.max_retries:
                self._sleep_backoff(attempt)
                attempt += 1
            elif status == 429:
                raise self._rate_limited(response, error)
            else:
                raise error

    def _exchange(
        self, method: str, url: str, headers: dict, attempt: int, kwargs: dict
    ) -> requests.Response | None:
        """One HTTP exchange, reported to ``on_call``. None means "network error, retry".

        ``before_call`` runs first and may raise to stop the caller before anything goes out (the
        engine raises when its holder lost the lease on the sub-step)."""
        if self.before_call is not None:
            self.before_call()
        started = time.monotonic()
        try:
            response = self._session.request(method, url, headers=headers, timeout=self.timeout, **kwargs)
        except (requests.ConnectionError, requests.Timeout) as exc:
            self._record(method, url, None, started, None)
            if method in IDEMPOTENT and attempt < self.max_retries:
                self._sleep_backoff(attempt)
                return None
            raise Transient(None, None, type(exc).__name__, f"{method} {urlsplit(url).path}: {exc}") from exc
        self._record(method, url, response.status_code, started, response.headers.get("X-Vcap-Request-Id"))
        return response

    def _record(
        self, method: str, url: str, status: int | None, started: float, request_id: str | None
    ) -> None:
        parts = urlsplit(url)
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        seconds = time.monotonic() - started
        record = CallRecord(method, path, status, int(seconds * 1000), request_id)
        metrics.cf_call(method, parts.path, status, seconds)
        if request_id:
            logcontext.note(cf_request_id=request_id)
        log.debug("CF %s %s -> %s (%d ms, %s)", method, path, status, record.duration_ms, request_id)
        if self.on_call is not None:
            try:
                self.on_call(record)
            except Exception:  # a broken call log must never break the CF call itself
                log.exception("on_call hook failed for %s %s", method, path)

    def _sleep_backoff(self, attempt: int) -> None:
        delay = min(self.backoff_cap, self.backoff_base * (2**attempt))
        time.sleep(delay * random.uniform(0.5, 1.0))

    @staticmethod
    def _retry_after(response: requests.Response) -> float | None:
        try:
            return max(0.0, float(response.headers["Retry-After"]))
        except (KeyError, ValueError):
            return None

    def _rate_limited(self, response: requests.Response, error: CFError) -> RateLimited:
        return RateLimited(
            error.status,
            error.code,
            error.title,
            error.detail,
            error.request_id,
            retry_after=self._retry_after(response),
        )

    def _wait_rate_limit(self, response: requests.Response, error: CFError) -> None:
        wait = self._retry_after(response)
        if wait is None or wait > self.max_retry_after:
            raise self._rate_limited(response, error)
        time.sleep(wait)

    # -- JSON helpers ------------------------------------------------------------------------

    @staticmethod
    def _json_or_none(response: requests.Response) -> Any:
        try:
            return response.json()
        except ValueError:
            return None

    def _json(self, response: requests.Response) -> dict:
        body = self._json_or_none(response)
        if not isinstance(body, dict):
            raise UnexpectedResponse(
                response.status_code, None, "UnexpectedResponse", "expected a JSON object",
                response.headers.get("X-Vcap-Request-Id"),
            )  # fmt: skip
        return body

    def get_json(self, path: str, params=None) -> dict:
        if self._answers is None:
            return self._json(self.request("GET", path, params=params))
        key = (path, tuple(sorted((params or {}).items())))
        if key not in self._answers:
            self._answers[key] = self._json(self.request("GET", path, params=params))
        return self._answers[key]

    @contextmanager
    def one_look(self) -> Iterator[None]:
        """Within the block each resource is read from CF once, and a second read of it gets the first
        answer: for a check whose rules read the same resources, so they all judge one state."""
        self._answers = {}
        try:
            yield
        finally:
            self._answers = None

    def paginate(self, path: str, params=None) -> Iterator[dict]:
        """Every resource of a list, following ``pagination.next.href`` until it is null."""
        body = self.get_json(path, params)
        for _ in range(MAX_PAGES):
            yield from body.get("resources") or []
            next_link = (body.get("pagination") or {}).get("next") or {}
            if not next_link.get("href"):
                return
            body = self.get_json(next_link["href"])
        raise UnexpectedResponse(None, None, "TooManyPages", f"{path}: more than {MAX_PAGES} pages")
