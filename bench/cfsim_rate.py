"""cfsim's sustained request rate for a realistic mix of portal calls.

    .venv/bin/python bench/cfsim_rate.py [--seconds 10] [--threads 8]

Starts cfsim on free loopback ports with no delays, then each thread (its own keep-alive connection,
one portal token) loops over the calls a worker makes:
mostly reads (inspect a service: domain, route, service instance, app; stats; destinations), and one
iteration in ten a whole write cycle (create app, package, build, droplet, scale, temporary route,
map, start, unmap, delete route and app). Prints requests/s and the count per call type. This is the
CF-side bound that upgrade throughput is measured against.
"""

from __future__ import annotations

import argparse
import http.client
import json
import random
import re
import sys
import threading
import time
import urllib.request
from collections import Counter
from pathlib import Path
from urllib.parse import urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from testkit.cfsim import CfSim  # noqa: E402
from testkit.demo import SPACE  # noqa: E402

SERVICES = [
    ("ec000001-0000-4000-8000-000000000001", "run.aws-usw02-pr.ice.predix.io"),
    ("ec000002-0000-4000-8000-000000000002", "run.aws-usw02-pr.ice.predix.io"),
    ("ec000003-0000-4000-8000-000000000003", "run.aws-usw02-pr.ice.predix.io"),
    ("ec000004-0000-4000-8000-000000000004", "run.aws-usw02-pr.ice.predix.io"),
    ("ec000c31-0000-4000-8000-000000000001", "run.aws-usw02.dev.ice.predix.io"),
    ("ec000c32-0000-4000-8000-000000000002", "run.aws-usw02.dev.ice.predix.io"),
]
GUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


class RawCF:
    """A minimal keep-alive JSON client (http.client), light enough that cfsim, not the load
    generator, is what saturates; counts each call by type."""

    def __init__(self, api_url: str, token: str, counts: Counter, lock: threading.Lock):
        parts = urlsplit(api_url)
        self.connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
        self.headers = {"Authorization": f"bearer {token}", "Content-Type": "application/json"}
        self.counts, self.lock = counts, lock

    def call(self, method: str, path: str, body: dict | None = None) -> tuple[int, dict]:
        payload = json.dumps(body).encode() if body is not None else None
        self.connection.request(method, path, body=payload, headers=self.headers)
        response = self.connection.getresponse()
        raw = response.read()
        with self.lock:
            self.counts[f"{method} {GUID.sub(':guid', path.split('?')[0])}"] += 1
        if response.status >= 400:
            raise RuntimeError(f"{method} {path} -> {response.status}")
        return response.status, json.loads(raw) if raw else {"location": response.getheader("Location")}


def read_cycle(cf: RawCF, rng: random.Random) -> None:
    zone, domain_name = rng.choice(SERVICES)
    domain = cf.call("GET", f"/v3/domains?names={domain_name}")[1]["resources"][0]
    route = cf.call("GET", f"/v3/routes?hosts={zone}&domain_guids={domain['guid']}&paths=")[1]["resources"][0]
    cf.call("GET", f"/v3/service_instances/{zone}")
    app_guid = route["destinations"][0]["app"]["guid"]
    cf.call("GET", f"/v3/apps?guids={app_guid}")
    cf.call("GET", f"/v3/processes/{app_guid}/stats")
    cf.call("GET", f"/v3/routes/{route['guid']}/destinations?app_guids={app_guid}")


def _rel(guid: str) -> dict:
    return {"data": {"guid": guid}}


def write_cycle(cf: RawCF, rng: random.Random, worker: int) -> None:
    tag = f"{worker}-{rng.randrange(10**9)}"
    domain = cf.call("GET", f"/v3/domains?names={SERVICES[0][1]}")[1]["resources"][0]
    app = cf.call("POST", "/v3/apps", {"name": f"bench-{tag}", "relationships": {"space": _rel(SPACE)}})[1]
    image = {"image": "ecsim/ec-service:okinawa.130"}
    package = cf.call(
        "POST", "/v3/packages", {"type": "docker", "data": image, "relationships": {"app": _rel(app["guid"])}}
    )
    build = cf.call("POST", "/v3/builds", {"package": {"guid": package[1]["guid"]}})[1]
    droplet = cf.call("GET", f"/v3/builds/{build['guid']}")[1]["droplet"]["guid"]
    cf.call("PATCH", f"/v3/apps/{app['guid']}/relationships/current_droplet", {"data": {"guid": droplet}})
    cf.call("POST", f"/v3/processes/{app['guid']}/actions/scale", {"instances": 2})
    relationships = {"domain": _rel(domain["guid"]), "space": _rel(SPACE)}
    temp = cf.call("POST", "/v3/routes", {"host": f"bench-{tag}", "relationships": relationships})[1]
    destination = {"destinations": [{"app": {"guid": app["guid"]}}]}
    mapped = cf.call("POST", f"/v3/routes/{temp['guid']}/destinations", destination)[1]
    cf.call("POST", f"/v3/apps/{app['guid']}/actions/start")
    cf.call("GET", f"/v3/processes/{app['guid']}/stats")
    cf.call("DELETE", f"/v3/routes/{temp['guid']}/destinations/{mapped['destinations'][0]['guid']}")
    job = cf.call("DELETE", f"/v3/routes/{temp['guid']}")[1]["location"]
    cf.call("GET", urlsplit(job).path)
    cf.call("POST", f"/v3/apps/{app['guid']}/actions/stop")
    job = cf.call("DELETE", f"/v3/apps/{app['guid']}")[1]["location"]
    cf.call("GET", urlsplit(job).path)


def portal_token(api_url: str) -> str:
    form = b"grant_type=client_credentials&client_id=ecportal&client_secret=ecportal-sim-secret"
    request = urllib.request.Request(api_url + "/uaa/oauth/token", data=form)
    with urllib.request.urlopen(request) as response:
        return json.loads(response.read())["access_token"]


def run(api_url: str, seconds: float, threads: int) -> tuple[Counter, int, float]:
    counts: Counter = Counter()
    errors = [0]
    lock = threading.Lock()
    token = portal_token(api_url)
    stop_at = time.monotonic() + seconds

    def worker(index: int) -> None:
        rng = random.Random(index)
        cf = RawCF(api_url, token, counts, lock)
        while time.monotonic() < stop_at:
            try:
                if rng.random() < 0.1:
                    write_cycle(cf, rng, index)
                else:
                    read_cycle(cf, rng)
            except Exception:  # counted, not fatal: the bench measures throughput
                with lock:
                    errors[0] += 1
                cf = RawCF(api_url, token, counts, lock)

    started = time.monotonic()
    pool = [threading.Thread(target=worker, args=(i,)) for i in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    return counts, errors[0], time.monotonic() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--threads", type=int, default=8)
    args = parser.parse_args()
    with CfSim() as sim:
        counts, errors, elapsed = run(sim.api_url, args.seconds, args.threads)
    total = sum(counts.values())
    print(
        f"cfsim sustained {total / elapsed:.0f} requests/s "
        f"({total} requests, {args.threads} threads, {elapsed:.1f} s, {errors} failed cycles)"
    )
    for kind, count in counts.most_common():
        print(f"  {count:7d}  {kind}")


if __name__ == "__main__":
    main()
