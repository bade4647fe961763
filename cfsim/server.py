"""The Cloud Controller + UAA HTTP server: parsing, auth, faults, rate limit and dispatch."""

from __future__ import annotations

import json
import re
import time
import uuid
from http.server import ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from cfsim import (
    control,
    faults,
    handlers_apps,
    handlers_routes,
    handlers_services,
    handlers_staging,
    oidc,
    roles,
    uaa,
)
from cfsim.errors import ApiError, error_body
from cfsim.http_util import KeepAliveHandler, Request, Response, ok
from cfsim.state import Store

API_VERSION = "3.190.0"
V2_API_VERSION = "2.225.0"
# The shape of an SSH proxy's host key fingerprint (a SHA-256, base64); cfsim runs no SSH proxy.
SSH_HOST_KEY_FINGERPRINT = "k8ZV5dGXzbYj6b5Q0HbQ2y6n9VZ1t8vTq3Fq2Hq9xYc"

RouteTable = list[tuple[str, re.Pattern, object]]


def _compile(*modules) -> RouteTable:
    return [
        (method, re.compile(f"^{pattern}/?$"), handler)
        for module in modules
        for method, pattern, handler in module.ROUTES
    ]


V3_ROUTES = _compile(handlers_routes, handlers_apps, handlers_staging, handlers_services, roles)


def root(req: Request) -> Response:
    """Every link a real Cloud Controller gives, as an object with an `href` (CC answers `null` only
    for the components a foundation leaves out, as bits_service and credhub here)."""
    base = req.base
    parts = urlsplit(base)
    logging_base = f"{'wss' if parts.scheme == 'https' else 'ws'}://{parts.netloc}"
    return ok(
        {
            "links": {
                "self": {"href": base},
                "bits_service": None,
                "cloud_controller_v2": {"href": f"{base}/v2", "meta": {"version": V2_API_VERSION}},
                "cloud_controller_v3": {"href": f"{base}/v3", "meta": {"version": API_VERSION}},
                "network_policy_v0": {"href": f"{base}/networking/v0/external"},
                "network_policy_v1": {"href": f"{base}/networking/v1/external"},
                "login": {"href": f"{base}/uaa"},
                "uaa": {"href": f"{base}/uaa"},
                "credhub": None,
                "routing": {"href": f"{base}/routing"},
                "logging": {"href": f"{logging_base}/doppler"},
                "log_cache": {"href": f"{base}/log-cache"},
                "log_stream": {"href": f"{base}/log-stream"},
                "app_ssh": {
                    "href": f"{parts.hostname}:2222",
                    "meta": {"host_key_fingerprint": SSH_HOST_KEY_FINGERPRINT, "oauth_client": "ssh-proxy"},
                },
            }
        }
    )


def v3_root(req: Request) -> Response:
    names = ("apps", "builds", "domains", "droplets", "jobs", "organizations", "packages", "processes",
             "routes", "service_instances", "service_credential_bindings", "spaces")  # fmt: skip
    links = {"self": {"href": f"{req.base}/v3"}} | {n: {"href": f"{req.base}/v3/{n}"} for n in names}
    return ok({"links": links})


def info(req: Request, store: Store) -> Response:
    config = store.config
    return ok(
        {
            "build": "cfsim",
            "cli_version": {"minimum": "8.0.0", "recommended": "8.9.0"},
            "custom": {},
            "description": "Cloud Foundry simulator for ecportal",
            "name": "cfsim",
            "version": 190,
            "osbapi_version": "2.15",
            "rate_limits": {
                "enabled": config.rate_limit_enabled,
                "general_limit": config.rate_limit,
                "reset_interval_in_minutes": max(1, config.rate_limit_reset_seconds // 60),
            },
            "links": {
                "self": {"href": f"{req.base}/v3/info"},
                "support": {"href": "https://example.org/support"},
            },
        }
    )


class ApiServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256

    def __init__(self, address, store: Store, fault_table: faults.FaultTable, state: control.ControlState):
        super().__init__(address, ApiHandler)
        self.store = store
        self.faults = fault_table
        self.control_state = state
        oidc.signing_key()  # made now, so that the first sign-in does not wait for it


class ApiHandler(KeepAliveHandler):
    server: ApiServer
    server_version = "cfsim"

    def do_GET(self):
        self._handle()

    do_POST = do_PUT = do_PATCH = do_DELETE = do_GET

    def _read_request(self) -> Request:
        parts = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        query = {k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
        host = self.headers.get("Host") or f"127.0.0.1:{self.server.server_address[1]}"
        headers = {k.lower(): v for k, v in self.headers.items()}
        return Request(self.command, parts.path, query, raw, f"http://{host}", headers)

    def _handle(self) -> None:
        request_id = str(uuid.uuid4())
        req = self._read_request()
        if req.path.startswith("/_cfsim"):
            if self.client_address[0] not in ("127.0.0.1", "::1"):
                response = Response(403, {"error": "control endpoints answer on loopback only"})
            else:
                response = control.dispatch(
                    req, self.server.store, self.server.faults, self.server.control_state
                )
            if req.method not in ("GET", "HEAD"):
                self.server.store.changed.set()  # a reset or a seed: worth saving (--state)
            self._send(response, request_id)
            return
        response, late = self._serve(req)
        # Logged once handled, as CF would: an answer held back by a fault is still a call CF made.
        with self.server.store.lock:
            self.server.store.call_log.append(
                {
                    "time": time.time(),
                    "method": req.method,
                    "path": req.path,
                    "query": dict(req.query),
                    "status": response.status,
                    "request_id": request_id,
                }  # fmt: skip
            )
        if req.method not in ("GET", "HEAD"):
            self.server.store.changed.set()  # may have changed something: worth saving (--state)
        if late is not None:
            time.sleep(late.delay)  # CF acted; its answer is late, or lost behind the fault's status
            if late.status:
                response = Response(late.status, late.response_body(), dict(late.headers))
        self._send(response, request_id)

    def _serve(self, req: Request) -> tuple[Response, faults.Fault | None]:
        """The answer, and the fault that holds it back (``after``) if any."""
        store = self.server.store
        if store.config.latency > 0:
            time.sleep(store.config.latency)
        fault = self.server.faults.take(req.method, req.path)
        if fault is not None and not fault.after:
            time.sleep(fault.delay)
            if fault.status:
                return Response(fault.status, fault.response_body(), dict(fault.headers)), None
        try:
            response = self._route(req, store)
        except ApiError as exc:
            response = Response(exc.status, exc.body())
        return response, fault if fault is not None and fault.after else None

    def _route(self, req: Request, store: Store) -> Response:
        path = req.path.rstrip("/") or "/"
        if path == "/" and req.method == "GET":
            return root(req)
        if path == "/v3" and req.method == "GET":
            return v3_root(req)
        if path.startswith("/uaa/"):
            return self._uaa(req, store, path)
        if path == "/v3/info" and req.method == "GET":
            return info(req, store)
        with store.lock:
            subject, problem = uaa.authenticate(store, req.headers.get("authorization"))
            if problem:
                detail = "Authentication error" if problem == "CF-NotAuthenticated" else "Invalid Auth Token"
                raise ApiError(problem, detail)
            headers, retry_after = faults.rate_limit(store, subject)
            if retry_after is not None:
                body = error_body(10013, "CF-RateLimitExceeded", "Rate Limit Exceeded")
                return Response(429, body, headers | {"Retry-After": str(retry_after)})
            store.advance()
            req.subject = subject
            req.visible_spaces = roles.visible_spaces(
                store, uaa.token_of(store, req.headers.get("authorization"))
            )
            response = self._dispatch(req, store)
        response.headers.update(headers)
        return response

    def _uaa(self, req: Request, store: Store, path: str) -> Response:
        if path == "/uaa/oauth/token" and req.method == "POST":
            with store.lock:
                return uaa.token_endpoint(req, store)
        if path == "/uaa/oauth/authorize" and req.method in ("GET", "POST"):
            with store.lock:
                return oidc.authorize(req, store)
        if path == "/uaa/.well-known/openid-configuration" and req.method == "GET":
            return oidc.discovery(req)
        if path == "/uaa/info" and req.method == "GET":
            return uaa.info(req)
        if path == "/uaa/token_keys" and req.method == "GET":
            return oidc.token_keys()
        if path == "/uaa/userinfo" and req.method == "GET":
            with store.lock:
                return oidc.userinfo(store, req.headers.get("authorization"))
        return Response(404, {"error": "not_found", "error_description": f"No endpoint {req.method} {path}"})

    def _dispatch(self, req: Request, store: Store) -> Response:
        path = req.path.rstrip("/")
        allowed = False
        for method, pattern, handler in V3_ROUTES:
            match = pattern.match(path)
            if match:
                if method == req.method:
                    try:
                        return handler(req, store, *match.groups())
                    except ApiError as exc:
                        return Response(exc.status, exc.body())
                allowed = True
        if allowed:
            return Response(405, error_body(10000, "CF-NotFound", "Unknown request"))
        return Response(404, error_body(10000, "CF-NotFound", "Unknown request"))

    def _send(self, response: Response, request_id: str) -> None:
        raw = isinstance(response.body, bytes)  # a page (UAA's login form), its type in its headers
        payload = (
            response.body if raw else b"" if response.body is None else json.dumps(response.body).encode()
        )
        self.send_response(response.status)
        self.send_header("X-Vcap-Request-Id", request_id)
        if payload and not raw:
            self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(payload)))
        for name, value in response.headers.items():
            self.send_header(name, value)
        try:
            self.end_headers()
            if payload and self.command != "HEAD":
                self.wfile.write(payload)
        except (BrokenPipeError, ConnectionResetError):
            # The client gave up waiting (an answer held back by a fault): nobody left to tell.
            self.close_connection = True
