"""Injected faults and the Cloud Controller rate limiter."""

from __future__ import annotations

import itertools
import math
import random
import re
import threading
import time
from dataclasses import dataclass, field

from cfsim.errors import CATALOG, error_body
from cfsim.state import Store

_ids = itertools.count(1)


@dataclass
class Fault:
    """Answer matching requests with ``status`` (and a CF error body) instead of handling them.

    ``count`` limits how many requests it hits (None: unlimited); ``probability`` makes it hit only
    that share of matches; ``delay`` sleeps before answering (a slow or hung upstream). A fault
    with ``status`` 0 only delays and then lets the request through.

    With ``after`` the request is handled first and only its answer suffers: held back ``delay``
    seconds (past a client's read timeout, it is lost although CF acted), then replaced by ``status``
    when that is set (a gateway's 502 after the work was done).
    """

    method: str
    path: str
    status: int
    title: str | None = None
    code: int | None = None
    detail: str = "injected by cfsim"
    body: object = None
    count: int | None = None
    probability: float = 1.0
    delay: float = 0.0
    after: bool = False
    headers: dict[str, str] = field(default_factory=dict)
    id: int = field(default_factory=lambda: next(_ids))
    hits: int = 0

    def __post_init__(self) -> None:
        self.pattern = re.compile(self.path)

    def matches(self, method: str, path: str) -> bool:
        return self.method in ("*", method) and self.pattern.search(path) is not None

    def response_body(self) -> object:
        if self.body is not None:
            return self.body
        title = self.title or _default_title(self.status)
        code = self.code or CATALOG.get(title, (self.status, 10001))[1]
        return error_body(code, title, self.detail)

    def as_json(self) -> dict:
        keys = (
            "id",
            "method",
            "path",
            "status",
            "title",
            "code",
            "detail",
            "body",
            "count",
            "probability",
            "delay",
            "after",
            "hits",
        )
        return {key: getattr(self, key) for key in keys}


def _default_title(status: int) -> str:
    return {
        400: "CF-InvalidRequest",
        401: "CF-InvalidAuthToken",
        403: "CF-NotAuthorized",
        404: "CF-ResourceNotFound",
        422: "CF-UnprocessableEntity",
        429: "CF-RateLimitExceeded",
        502: "CF-ServiceUnavailable",
        503: "CF-ServiceUnavailable",
    }.get(status, "UnknownError")


class FaultTable:
    """The active faults; thread-safe, first match wins."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[Fault] = []

    def add(self, fault: Fault) -> Fault:
        with self._lock:
            self._faults.append(fault)
        return fault

    def remove(self, fault_id: int | None = None) -> None:
        with self._lock:
            self._faults = [f for f in self._faults if fault_id is not None and f.id != fault_id]

    def list(self) -> list[dict]:
        with self._lock:
            return [f.as_json() for f in self._faults]

    def take(self, method: str, path: str) -> Fault | None:
        """The fault this request hits, if any; spends one of its ``count``."""
        with self._lock:
            for fault in self._faults:
                if not fault.matches(method, path) or random.random() >= fault.probability:
                    continue
                fault.hits += 1
                if fault.count is not None:
                    fault.count -= 1
                    if fault.count <= 0:
                        self._faults.remove(fault)
                return fault
        return None


def rate_limit(store: Store, subject: str) -> tuple[dict[str, str], int | None]:
    """Count one request for ``subject``: (X-RateLimit headers, Retry-After seconds if over).

    Call with the lock held. Windows are fixed and start at a subject's first request, like CC's.
    """
    config = store.config
    if not config.rate_limit_enabled:
        return {}, None
    now = time.time()
    start, count = store.rate_windows.get(subject, (now, 0))
    if now - start >= config.rate_limit_reset_seconds:
        start, count = now, 0
    count += 1
    store.rate_windows[subject] = (start, count)
    reset = start + config.rate_limit_reset_seconds
    headers = {
        "X-RateLimit-Limit": str(config.rate_limit),
        "X-RateLimit-Remaining": str(max(0, config.rate_limit - count)),
        "X-RateLimit-Reset": str(int(math.ceil(reset))),
    }
    if count > config.rate_limit:
        return headers, max(1, int(math.ceil(reset - now)))
    return headers, None
