"""Typed Cloud Foundry errors. Callers branch on the class (status + title), never on ``detail``."""

from __future__ import annotations


class CFError(Exception):
    """A failed CF call: HTTP status (None for a network error), CF error code and title, the
    human ``detail`` (for display only) and the ``X-Vcap-Request-Id`` for CF operators."""

    def __init__(
        self,
        status: int | None,
        code: int | None = None,
        title: str = "",
        detail: str = "",
        request_id: str | None = None,
    ):
        super().__init__(f"{status} {title}: {detail}".strip())
        self.status = status
        self.code = code
        self.title = title
        self.detail = detail
        self.request_id = request_id


class BadRequest(CFError):
    """400: a malformed query or body; a bug on our side, never retried."""


class Unauthorized(CFError):
    """401 from CC or a refused UAA login: credentials or token are not accepted."""


class Forbidden(CFError):
    """403: the portal's CF identity lacks a role or scope, or a feature flag is off."""


class NotFound(CFError):
    """404 CF-ResourceNotFound: missing or not visible to the portal's identity."""


class Unprocessable(CFError):
    """422: CC refused the change (route exists, no droplet, destination not on route, ...)."""


class Uniqueness(Unprocessable):
    """422 CF-UniquenessError: the app name is taken in the space."""


class RateLimited(CFError):
    """429: over CC's rate limit; ``retry_after`` is the seconds CF asked us to wait."""

    def __init__(self, *args, retry_after: float | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.retry_after = retry_after


class Transient(CFError):
    """Worth retrying later: network errors, timeouts, 5xx, 503 CF-InstancesUnavailable.

    After a POST its outcome is unknown (CF may have acted before the connection broke): observe
    before trying again."""


class UnexpectedResponse(CFError):
    """A 2xx answer the client cannot use (not JSON, or a 202 without a job Location)."""


_BY_TITLE: dict[tuple[int, str], type[CFError]] = {
    (422, "CF-UniquenessError"): Uniqueness,
}

_BY_STATUS: dict[int, type[CFError]] = {
    400: BadRequest,
    401: Unauthorized,
    403: Forbidden,
    404: NotFound,
    422: Unprocessable,
    429: RateLimited,
}


def error_class(status: int, title: str) -> type[CFError]:
    """The exception class for an HTTP status and CF error title (``detail`` plays no part)."""
    if cls := _BY_TITLE.get((status, title)):
        return cls
    if cls := _BY_STATUS.get(status):
        return cls
    if status >= 500:
        return Transient
    return CFError


def from_response(status: int, body: object, request_id: str | None) -> CFError:
    """Build the typed error for a CF error body ``{"errors": [{code, title, detail}]}``.

    Bodies that are not CF-shaped (a proxy's HTML page, UAA's OAuth error) still give the right class
    by status; UAA's ``error``/``error_description`` are used as title/detail.
    """
    code, title, detail = None, "", ""
    if isinstance(body, dict):
        errors = body.get("errors")
        if isinstance(errors, list) and errors and isinstance(errors[0], dict):
            first = errors[0]
            code, title, detail = first.get("code"), first.get("title", ""), first.get("detail", "")
        elif "error" in body:
            title, detail = str(body.get("error")), str(body.get("error_description", ""))
    cls = error_class(status, title)
    return cls(status, code, title, detail, request_id)
