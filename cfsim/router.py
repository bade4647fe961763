"""The gorouter stand-in: ``Host: <host>.<domain>`` reaches the apps mapped to that route.

200 JSON ``{app_guid, app_name, instance_index, version}`` from the next RUNNING instance
(round-robin over all destinations); 404 with ``X-Cf-Routererror: unknown_route`` for a route nobody
maps; 503 when it is mapped but no instance runs. ``version`` is the docker image tag of the app's
current droplet, i.e. the EC release.

On an EC app (a route whose host starts with a zone ID), ``GET /v1/info/`` (``/v1beta/info/`` on dev
foundations) answers as the EC Service does: ``{sid, ver, build, plan}``, ``build`` being the release.
An app whose image is in ``erroring_images`` answers 502, and every instance answers 502 for
``warmup_errors`` seconds after it started running. Mapping changes reach the router only
after ``route_delay`` seconds (`Store.routed_destinations`).
"""

from __future__ import annotations

import json
import re
import time
import uuid
from http.server import ThreadingHTTPServer

from cfsim.http_util import KeepAliveHandler
from cfsim.state import App, Route, Store

_ZONE_HOST = re.compile(r"([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})", re.IGNORECASE)
_INFO_PATHS = frozenset({"/v1/info", "/v1/info/", "/v1beta/info", "/v1beta/info/"})


def _find_route(store: Store, hostname: str, path: str) -> Route | None:
    """The route for a hostname and request path: longest matching route path wins."""
    best = None
    for route in store.routes.values():
        domain = store.domains.get(route.domain_guid)
        if domain is None:
            continue
        fqdn = f"{route.host}.{domain.name}" if route.host else domain.name
        if fqdn.lower() != hostname.lower():
            continue
        if route.path and not (path == route.path or path.startswith(route.path + "/")):
            continue
        if best is None or len(route.path) > len(best.path):
            best = route
    return best


def _version(store: Store, app_guid: str) -> str | None:
    app = store.apps.get(app_guid)
    droplet = store.droplets.get(app.droplet_guid or "") if app else None
    image = droplet.image if droplet else None
    if not image or ":" not in image.rsplit("/", 1)[-1]:
        return None
    return image.rsplit(":", 1)[1]


def pick(store: Store, hostname: str, path: str) -> tuple[int, dict, dict[str, str]]:
    """(status, body, headers) for one routed request. Call with the lock held."""
    store.advance()
    route = _find_route(store, hostname, path)
    destinations = store.routed_destinations(route) if route else ()
    if not destinations:
        body = {"error": f"Requested route ('{hostname}') does not exist."}
        return 404, body, {"X-Cf-Routererror": "unknown_route"}
    backends = []
    for dest in destinations:
        app = store.apps.get(dest.app_guid)
        if app is None or app.state != "STARTED":
            continue
        for process in store.app_processes(app.guid):
            if process.type == dest.process_type:
                backends += [(app, inst) for inst in process.actual if inst.state == "RUNNING"]
    if not backends:
        body = {"error": "no healthy instances for this route"}
        return 503, body, {"X-Cf-Routererror": "no_endpoints"}
    app, instance = backends[route.next_instance % len(backends)]
    route.next_instance += 1
    if time.monotonic() < instance.ready_at + store.config.warmup_errors:
        # Still warming up: the instance runs but answers errors, as some releases do after a start.
        return 502, {"error": "Bad Gateway"}, {"X-Cf-App-Instance": f"{app.guid}:{instance.index}"}
    return _answer(store, app, instance.index, hostname, path)


def _answer(store: Store, app: App, index: int, hostname: str, path: str) -> tuple[int, dict, dict[str, str]]:
    """What the app instance itself answers."""
    headers = {"X-Cf-App-Instance": f"{app.guid}:{index}"}
    droplet = store.droplets.get(app.droplet_guid or "")
    if droplet and droplet.image in store.config.erroring_images:
        return 502, {"error": "Bad Gateway"}, headers
    zone = _ZONE_HOST.match(hostname)
    if zone and path in _INFO_PATHS:
        info = {
            "sid": zone.group(1).lower(),
            "ver": "v1",
            "build": _version(store, app.guid),
            "plan": "Oneway-TLS",
        }
        return 200, info, headers
    body = {
        "app_guid": app.guid,
        "app_name": app.name,
        "instance_index": index,
        "version": _version(store, app.guid),
    }
    return 200, body, headers


class RouterServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256

    def __init__(self, address, store: Store):
        super().__init__(address, RouterHandler)
        self.store = store


class RouterHandler(KeepAliveHandler):
    server: RouterServer
    server_version = "cfsim-router"

    def do_GET(self):
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        host = self.headers.get("Host") or ""
        hostname = host.rsplit(":", 1)[0] if ":" in host else host
        with self.server.store.lock:
            status, body, headers = pick(self.server.store, hostname, self.path.split("?", 1)[0])
        payload = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.send_header("X-Vcap-Request-Id", str(uuid.uuid4()))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(payload)

    do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_GET
