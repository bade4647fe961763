"""``python -m cfsim --port 9000 --router-port 9080 [--seed FILE | --fleet N [--fleet-seed S]]
[--state FILE] [--profile instant|realistic]``.

``--fleet N`` seeds N generated EC services over the three demo foundations (``cfsim.fleet``), the
same for the same ``--fleet-seed``. ``--profile`` sets the delays as a whole (``realistic``: about
30 ms a call, staging 20 s, instance start 8 s, jobs 2 s); single knobs given beside it win.

Port 0 picks a free port; the first line printed is ``cfsim api=<url> router=<url>`` so a parent
process can read the ports actually bound.

With ``--state FILE`` the foundation survives a restart: cfsim starts from the file when it exists
(else from the seed), saves every change to it, and ``POST /_cfsim/reset`` rewrites it from the seed.
Without it, every start begins at the seed.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading

from cfsim.control import PROFILES, ControlState, apply_config
from cfsim.faults import FaultTable
from cfsim.fleet import fleet_seed
from cfsim.persistence import StateFile
from cfsim.router import RouterServer
from cfsim.seeds import load_seed, read_seed
from cfsim.server import ApiServer
from cfsim.state import Store


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="cfsim", description="Cloud Foundry simulator for ecportal")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=9000, help="Cloud Controller + UAA port")
    parser.add_argument("--router-port", type=int, default=9080, help="router port")
    parser.add_argument("--seed", help="seed JSON file (default: the demo seed)")
    parser.add_argument("--fleet", type=int, metavar="N", help="seed N generated EC services instead")
    parser.add_argument("--fleet-seed", type=int, default=0, help="the same seed gives the same fleet")
    parser.add_argument("--profile", choices=sorted(PROFILES), help="a set of delays (default: the seed's)")
    parser.add_argument("--state", help="file to keep the state in across restarts (default: none)")
    parser.add_argument("--staging-delay", type=float, help="seconds a build stays STAGING")
    parser.add_argument("--start-delay", type=float, help="seconds an instance stays STARTING")
    parser.add_argument("--job-delay", type=float, help="seconds a job stays PROCESSING")
    parser.add_argument("--latency", type=float, help="seconds added to every API response")
    parser.add_argument("--token-lifetime", type=int, help="access token lifetime in seconds")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    overrides = PROFILES.get(args.profile, {}) | {
        knob: getattr(args, knob)
        for knob in ("staging_delay", "start_delay", "job_delay", "latency", "token_lifetime")
        if getattr(args, knob) is not None
    }
    store = Store()
    state_file = StateFile(args.state, store) if args.state else None
    if args.fleet is not None and args.seed:
        sys.exit("cfsim: give --seed or --fleet, not both")
    seed = fleet_seed(args.fleet, args.fleet_seed) if args.fleet is not None else read_seed(args.seed)
    state = ControlState(seed=seed, overrides=overrides, state_file=state_file)
    with store.lock:
        restored = state_file is not None and state_file.load()
        if not restored:
            load_seed(store, state.seed)
        apply_config(store, overrides)
    if state_file:
        print(
            f"cfsim: state {'restored from' if restored else 'from the seed, kept in'} {args.state}",
            file=sys.stderr,
        )
        state_file.save()
        state_file.start()
    api = ApiServer((args.host, args.port), store, FaultTable(), state)
    router = RouterServer((args.host, args.router_port), store)
    threading.Thread(target=router.serve_forever, daemon=True).start()
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=api.shutdown).start())
    print(
        f"cfsim api=http://{args.host}:{api.server_address[1]} router=http://{args.host}:{router.server_address[1]}",
        flush=True,
    )
    try:
        api.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        router.shutdown()
        api.server_close()
        router.server_close()
        if state_file:
            state_file.close()
    sys.exit(0)


if __name__ == "__main__":
    main()
