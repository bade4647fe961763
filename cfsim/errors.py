"""Cloud Controller error bodies: ``{"errors": [{"code", "title", "detail"}]}`` with CF's codes."""

from __future__ import annotations

# (status, code) per CF error title, from errors/v3.yml of the Cloud Controller.
CATALOG: dict[str, tuple[int, int]] = {
    "CF-BadQueryParameter": (400, 10005),
    "CF-MessageParseError": (400, 1001),
    "CF-InvalidRequest": (400, 10004),
    "CF-InvalidAuthToken": (401, 1000),
    "CF-NotAuthenticated": (401, 10002),
    "CF-NotAuthorized": (403, 10003),
    "CF-InsufficientScope": (403, 10007),
    "CF-FeatureDisabled": (403, 330002),
    "CF-ResourceNotFound": (404, 10010),
    "CF-NotFound": (404, 10000),
    "CF-UnprocessableEntity": (422, 10008),
    "CF-UniquenessError": (422, 10016),
    "CF-StagingInProgress": (422, 170017),
    "CF-ResourceBeingDeleted": (422, 10020),
    "CF-RateLimitExceeded": (429, 10013),
    "CF-ServerError": (500, 10001),
    "UnknownError": (500, 10001),
    "CF-ServiceUnavailable": (503, 10015),
    "CF-InstancesUnavailable": (503, 220002),
    "CF-UaaUnavailable": (503, 20004),
}


class ApiError(Exception):
    """Raised by a handler to answer with a CF error body."""

    def __init__(self, title: str, detail: str, *, status: int | None = None, code: int | None = None):
        super().__init__(detail)
        known_status, known_code = CATALOG.get(title, (500, 10001))
        self.status = status or known_status
        self.code = code or known_code
        self.title = title
        self.detail = detail

    def body(self) -> dict:
        return error_body(self.code, self.title, self.detail)


def error_body(code: int, title: str, detail: str) -> dict:
    return {"errors": [{"code": code, "title": title, "detail": detail}]}


def not_found(kind: str) -> ApiError:
    return ApiError("CF-ResourceNotFound", f"{kind} not found")


def unprocessable(detail: str) -> ApiError:
    return ApiError("CF-UnprocessableEntity", detail)


def bad_query(detail: str) -> ApiError:
    return ApiError("CF-BadQueryParameter", f"The query parameter is invalid: {detail}")


def bad_request(detail: str) -> ApiError:
    return ApiError("CF-MessageParseError", f"Request invalid due to parse error: {detail}")
