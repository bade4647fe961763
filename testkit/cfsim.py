"""Run cfsim as a subprocess for tests: free ports, chosen seed, zero delays by default.

    with CfSim() as sim:
        sim.api_url, sim.router_url          # http://127.0.0.1:<port>
        sim.control("PATCH", "config", {"start_delay": 1})
        sim.add_fault(method="GET", path="^/v3/apps$", status=503, count=1)
        sim.route("<zone-id>.<domain>")      # a GET through cfsim's router
        sim.reset()                          # back to the seed; clears faults and the call log

``CfSim(state=path)`` keeps the foundation in ``path`` (``--state``): stop() and start() again, and
it is still there (on new ports). ``kill()`` stops it the way a crash would.

It talks plain urllib so that tests outside the CF client need no HTTP library.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
ZERO_DELAYS = {"staging_delay": 0, "start_delay": 0, "job_delay": 0}


class CfSim:
    """A cfsim process on free loopback ports. Use as a context manager or start()/stop()."""

    def __init__(
        self,
        seed: str | Path | None = None,
        *,
        delays: dict[str, float] | None = None,
        timeout: float = 15,
        state: str | Path | None = None,
        args: tuple[str, ...] = (),
    ):
        self.seed = seed
        self.args = args
        self.state_path = state
        self.delays = ZERO_DELAYS if delays is None else delays
        self.timeout = timeout
        self.api_url = ""
        self.router_url = ""
        self._process: subprocess.Popen | None = None

    def start(self) -> CfSim:
        command = [sys.executable, "-m", "cfsim", "--port", "0", "--router-port", "0"]
        if self.seed:
            command += ["--seed", str(self.seed)]
        if self.state_path:
            command += ["--state", str(self.state_path)]
        for knob, value in self.delays.items():
            command += [f"--{knob.replace('_', '-')}", str(value)]
        command += self.args
        self._process = subprocess.Popen(
            command, cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
        )
        # cfsim prints "cfsim api=<url> router=<url>" once both sockets are bound.
        line = self._process.stdout.readline() if self._process.stdout else ""
        if not line.startswith("cfsim "):
            self.stop()
            raise RuntimeError(f"cfsim did not start: {line!r}")
        fields = dict(part.split("=", 1) for part in line.split()[1:])
        self.api_url, self.router_url = fields["api"], fields["router"]
        self._wait_until_answering()
        return self

    def _wait_until_answering(self) -> None:
        deadline = time.monotonic() + self.timeout
        while True:
            try:
                with urllib.request.urlopen(self.api_url + "/", timeout=2) as response:
                    if response.status == 200:
                        return
            except OSError:
                if time.monotonic() > deadline:
                    self.stop()
                    raise
                time.sleep(0.05)

    def stop(self) -> None:
        self._end(kill=False)

    def kill(self) -> None:
        """SIGKILL: no chance to save anything on the way out."""
        self._end(kill=True)

    def _end(self, *, kill: bool) -> None:
        if self._process is None:
            return
        if kill:
            self._process.kill()
        else:
            self._process.terminate()
        try:
            self._process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        if self._process.stdout:
            self._process.stdout.close()
        self._process = None

    def __enter__(self) -> CfSim:
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()

    def control(self, method: str, path: str, body: Any = None) -> Any:
        """Call ``/_cfsim/<path>`` and return its JSON answer; raises on a non-2xx status."""
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            f"{self.api_url}/_cfsim/{path.lstrip('/')}",
            data=data,
            method=method,
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.loads(response.read() or b"null")

    def reset(self, seed: dict | None = None) -> None:
        self.control("POST", "reset", {"seed": seed} if seed is not None else {})

    def configure(self, **knobs: Any) -> dict:
        return self.control("PATCH", "config", knobs)

    def add_fault(self, **fault: Any) -> dict:
        return self.control("POST", "faults", fault)

    def calls(self) -> list[dict]:
        return self.control("GET", "calls")["calls"]

    def state(self) -> dict:
        return self.control("GET", "state")

    def route(self, hostname: str, path: str = "/") -> tuple[int, dict, dict[str, str]]:
        """GET through the router with ``Host: hostname``: (status, JSON body, headers)."""
        request = urllib.request.Request(self.router_url + path, headers={"Host": hostname})
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status, json.loads(response.read()), dict(response.headers)
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read() or b"{}"), dict(error.headers)
