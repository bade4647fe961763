"""Sign-in through cfsim's UAA and the ownership check at intake, timed.

    .venv/bin/python bench/signin.py [--samples 30]

Starts a cfsim on free loopback ports. Times the authorization code flow as a browser drives it
(the login form answered, the code redeemed with its PKCE verifier, an RS256 ID token signed), and
`upgrades.ownership.check` for one service with the signed-in user's own token: one they own (the
service instance and its space's managers read) and one they do not (refused). Prints p50/p90/max.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ecportal.embedded import demo_foundations  # noqa: E402
from testkit import demo  # noqa: E402
from testkit.cfsim import CfSim  # noqa: E402
from testkit.uaa import token_response  # noqa: E402


def timed(action, samples: int) -> list[float]:
    times = []
    for _ in range(samples):
        start = time.perf_counter()
        action()
        times.append((time.perf_counter() - start) * 1000)
    return sorted(times)


def report(name: str, times: list[float]) -> None:
    p90 = times[max(0, int(len(times) * 0.9) - 1)]
    print(f"{name:<34} p50 {statistics.median(times):6.1f} ms  p90 {p90:6.1f} ms  max {times[-1]:6.1f} ms")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--samples", type=int, default=30)
    args = parser.parse_args()
    with CfSim() as sim:
        os.environ["FOUNDATIONS"] = json.dumps(demo_foundations(sim.api_url))
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ecportal.settings")
        import django

        django.setup()
        from upgrades import intake, ownership

        scope = "openid cloud_controller.read"
        report(
            "code flow (login, code, tokens)",
            timed(lambda: token_response(sim.api_url, "alice", scope=scope), args.samples),
        )
        token = token_response(sim.api_url, "alice", scope=scope)["access_token"]
        owned, _ = intake.parse_url(demo.ACME_PROD_URL)
        other, _ = intake.parse_url(f"https://{demo.GLOBEX_PROD_ZONE}.{demo.WEST}")
        report("ownership check, owned", timed(lambda: ownership.check([owned], token), args.samples))
        report("ownership check, refused", timed(lambda: ownership.check([other], token), args.samples))


if __name__ == "__main__":
    main()
