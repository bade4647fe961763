"""Request/response values shared by the handlers, plus pagination and list filters."""

from __future__ import annotations

import json
import math
import socket
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import urlencode

from cfsim.errors import bad_query, bad_request
from cfsim.labels import parse_selector


class KeepAliveHandler(BaseHTTPRequestHandler):
    """HTTP/1.1 keep-alive, no access log (cfsim keeps its own call log), no Nagle delay."""

    protocol_version = "HTTP/1.1"

    def setup(self):
        super().setup()
        # Headers and body go out in two writes; without NODELAY the second waits for a delayed ACK.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format, *args):  # noqa: A002 - the stdlib's signature
        pass


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, str]  # the last value of each query parameter; blanks kept (``paths=``)
    raw_body: bytes
    base: str  # absolute scheme://host:port for links
    headers: dict[str, str]
    subject: str | None = None
    # The spaces the caller's token may see (cfsim/roles.py); None: every space.
    visible_spaces: set[str] | None = None

    def sees(self, item: Any) -> bool:
        """Whether the caller may see ``item``: anything outside a space, or inside a visible one."""
        space = getattr(item, "space_guid", "")
        return self.visible_spaces is None or space == "" or space in self.visible_spaces

    def json(self) -> dict:
        """The JSON body as a dict; 400 CF-MessageParseError when it is not one."""
        if not self.raw_body:
            return {}
        try:
            body = json.loads(self.raw_body)
        except ValueError as exc:
            raise bad_request(str(exc)) from exc
        if not isinstance(body, dict):
            raise bad_request("the body must be a JSON object")
        return body

    def csv(self, name: str) -> list[str] | None:
        """A comma-separated filter as a list, or None when absent (``paths=`` gives [""])."""
        if name not in self.query:
            return None
        return self.query[name].split(",")


@dataclass
class Response:
    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


def ok(body: Any, status: int = 200) -> Response:
    return Response(status, body)


def accepted_job(base: str, job_guid: str) -> Response:
    return Response(202, None, {"Location": f"{base}/v3/jobs/{job_guid}"})


def no_content() -> Response:
    return Response(204)


def _page_params(req: Request) -> tuple[int, int]:
    try:
        page = int(req.query.get("page", "1"))
        per_page = int(req.query.get("per_page", "50"))
    except ValueError as exc:
        raise bad_query("page and per_page must be integers") from exc
    if page < 1:
        raise bad_query("Page must be greater than 0")
    if not 1 <= per_page <= 5000:
        raise bad_query("Per page must be between 1 and 5000")
    return page, per_page


def paginate(req: Request, items: list, render: Callable[[Any], dict]) -> Response:
    """A CF paginated list of ``items`` with absolute first/last/next/previous hrefs: those the
    caller may see (``Request.sees``), as Cloud Controller lists only what a user's roles allow."""
    page, per_page = _page_params(req)
    if req.visible_spaces is not None:
        items = [item for item in items if req.sees(item)]
    total = len(items)
    pages = max(1, math.ceil(total / per_page))
    others = {k: v for k, v in req.query.items() if k not in ("page", "per_page")}

    def href(number: int) -> dict:
        query = urlencode({**others, "page": number, "per_page": per_page}, safe=",")
        return {"href": f"{req.base}{req.path}?{query}"}

    window = items[(page - 1) * per_page : page * per_page]
    return ok(
        {
            "pagination": {
                "total_results": total,
                "total_pages": pages,
                "first": href(1),
                "last": href(pages),
                "next": href(page + 1) if page < pages else None,
                "previous": href(page - 1) if page > 1 else None,
            },
            "resources": [render(item) for item in window],
        }
    )


def filter_by(req: Request, items: Iterable, filters: dict[str, Callable[[Any], str]]) -> list:
    """Keep the items matching every given CSV filter (``name -> attribute getter``)."""
    result = list(items)
    for name, getter in filters.items():
        wanted = req.csv(name)
        if wanted is not None:
            result = [item for item in result if getter(item) in wanted]
    return result


def filter_labels(req: Request, items: list, labels: Callable[[Any], dict]) -> list:
    selector = req.query.get("label_selector")
    if selector is None:
        return items
    matches = parse_selector(selector)
    return [item for item in items if matches(labels(item))]


def ordered(items: Iterable, req: Request | None = None) -> list:
    """CF's order for lists: oldest first (collections keep insertion order, which is it), unless
    ``order_by`` asks for ``created_at`` or ``updated_at``, descending with a leading ``-``."""
    result = list(items)
    order_by = req.query.get("order_by") if req is not None else None
    if not order_by:
        return result
    field = order_by.removeprefix("-")
    if field not in ("created_at", "updated_at"):
        raise bad_query(f"Order by can only be: 'created_at', 'updated_at' (got {order_by!r})")
    # A stable sort: equal timestamps (CF's are whole seconds) keep the order of creation.
    result.sort(key=lambda item: getattr(item, field))
    if order_by.startswith("-"):
        result.reverse()
    return result
