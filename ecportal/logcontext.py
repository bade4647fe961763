"""What every log line carries where known: the request id, the upgrade (service) id and CF's request id.

The web sets the request id per request (`request_id` middleware: the router's `X-Vcap-Request-Id` or a
client's `X-Request-Id`, else a new one; sent back as `X-Request-Id`); the engine binds the service it
works on (`bound(upgrade_id=…)`); the CF transport notes the `X-Vcap-Request-Id` of CF's latest answer.
`LogContext` copies them onto each record, where the JSON formatter writes them as fields.
"""

import re
import uuid
from contextlib import contextmanager
from contextvars import ContextVar

FIELDS = ("request_id", "upgrade_id", "cf_request_id")
_values: dict[str, ContextVar] = {name: ContextVar(name, default=None) for name in FIELDS}
# What a caller may send as its request id: no spaces, quotes or control characters, bounded.
_SAFE_ID = re.compile(r"^[A-Za-z0-9._:/+=-]{1,200}$")


def note(**values) -> None:
    """Set fields for the rest of this context (this thread, this task)."""
    for name, value in values.items():
        _values[name].set(value)


@contextmanager
def bound(**values):
    """Set fields for the duration of a block, then restore them."""
    tokens = {name: _values[name].set(value) for name, value in values.items()}
    try:
        yield
    finally:
        for name, token in tokens.items():
            _values[name].reset(token)


class LogContext:
    """A logging filter that copies the context's fields onto each record (None where unknown)."""

    def filter(self, record) -> bool:
        for name, value in _values.items():
            if not hasattr(record, name):
                setattr(record, name, value.get())
        return True


def _incoming_id(request) -> str:
    for header in ("X-Vcap-Request-Id", "X-Request-Id"):
        value = request.headers.get(header, "")
        if _SAFE_ID.match(value):
            return value
    return uuid.uuid4().hex


def request_id(get_response):
    """Middleware: the request's id for its log lines and in its answer's `X-Request-Id`."""

    def middleware(request):
        request.request_id = _incoming_id(request)
        # Set, not bound to this block: Django logs a 4xx/5xx answer after the middleware returns it. The
        # next request on this thread sets them again.
        note(request_id=request.request_id, upgrade_id=None, cf_request_id=None)
        response = get_response(request)
        response["X-Request-Id"] = request.request_id
        return response

    return middleware
