"""A fleet seed: N EC services spread over the three demo foundations, the same for the same seed.

``python -m cfsim --fleet N [--fleet-seed S]`` starts cfsim on it; ``python -m cfsim.fleet N
[--fleet-seed S]`` prints it as a seed file (the layout of ``cfsim.seeds``).

Each service is what the portal finds on a real foundation: a managed `enterprise-connect` service
instance whose GUID is the zone ID, an app running an EC release image with one route, the zone ID
on the foundation's domain, and 0 to 2 bindings to its organisation's shared services. Releases,
instance counts, memory and organisations are drawn from weighted choices, so a fleet looks like
one in the middle of a roll-out: most services on the last release or two, a few far behind.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import uuid

from cfsim.seeds import read_seed

# (domain, share of the fleet): Predix West holds most services, as it does in life.
FOUNDATION_SHARES = (
    ("run.aws-usw02-pr.ice.predix.io", 5),
    ("run.asv-pr.ice.predix.io", 3),
    ("run.aws-usw02.dev.ice.predix.io", 2),
)
# (release, weight): a roll-out of okinawa.130 under way.
RELEASES = (("sendai.118", 1), ("sendai.120", 6), ("okinawa.129", 4), ("okinawa.130", 3))
INSTANCES = ((1, 6), (2, 3), (3, 1))
MEMORY_MB = ((512, 3), (1024, 1))
ENVIRONMENTS = ("prod", "nonprod", "dev", "qa")
COMPANIES = (
    "acme", "globex", "initech", "umbrella", "hooli", "stark", "wayne", "wonka", "tyrell",
    "cyberdyne", "soylent", "oscorp", "aperture", "vandelay", "gringotts", "monarch",
)  # fmt: skip
IMAGE = "ecsim/ec-service:{release}"
HEALTH_CHECK = {
    "type": "http",
    "data": {"endpoint": "/health", "timeout": 60, "invocation_timeout": 5, "interval": None},
}


def fleet_seed(count: int, seed: int = 0) -> dict:
    """The demo seed's configuration and domains with `count` generated EC services in place of its
    own; every GUID and choice follows from `seed`."""
    rng = random.Random(seed)
    base = read_seed(None)
    domains = {domain["name"]: domain["guid"] for domain in base["domains"]}
    fleet = {key: base[key] for key in ("uaa", "delays", "failing_images", "domains") if key in base} | {
        "organizations": [],
        "spaces": [],
        "service_instances": [],
        "apps": [],
    }

    def guid() -> str:
        return str(uuid.UUID(int=rng.getrandbits(128), version=4))

    shared: dict[str, tuple[str, list[str]]] = {}  # company -> (space GUID, shared service GUIDs)
    for number in range(1, count + 1):
        company = rng.choice(COMPANIES)
        if company not in shared:
            shared[company] = _organization(fleet, company, guid)
        space_guid, services = shared[company]
        environment = ENVIRONMENTS[number % len(ENVIRONMENTS)]
        domain = _weighted(rng, FOUNDATION_SHARES)
        release = _weighted(rng, RELEASES)
        zone_id = guid()
        fleet["service_instances"].append(
            {"guid": zone_id, "name": f"ec-{company}-{environment}-{number:05d}", "space_guid": space_guid,
             "type": "managed", "offering": "enterprise-connect", "plan": "Basic"}
        )  # fmt: skip
        fleet["apps"].append(
            {
                "guid": guid(),
                "name": f"ec-service-{company}-{environment}-{number:05d}",
                "space_guid": space_guid,
                "image": IMAGE.format(release=release),
                "instances": _weighted(rng, INSTANCES),
                "memory_in_mb": _weighted(rng, MEMORY_MB),
                "disk_in_mb": 1024,
                "health_check": HEALTH_CHECK,
                "env": {
                    "ZONE": zone_id,
                    "EC_SERVICE_URL": f"https://{zone_id}.{domain}",
                    "EC_LOG_LEVEL": "info",
                },
                "routes": [{"guid": guid(), "host": zone_id, "domain_guid": domains[domain]}],
                "bindings": [
                    {"guid": guid(), "service_instance_guid": service, "name": None}
                    for service in rng.sample(services, rng.randint(0, len(services)))
                ],
            }
        )
    return fleet


def _organization(fleet: dict, company: str, guid) -> tuple[str, list[str]]:
    """An organisation and space for `company`, with its shared UAA and log drain."""
    org_guid, space_guid = guid(), guid()
    fleet["organizations"].append({"guid": org_guid, "name": company})
    fleet["spaces"].append({"guid": space_guid, "name": "ec-services", "organization_guid": org_guid})
    uaa, drain = guid(), guid()
    fleet["service_instances"] += [
        {"guid": uaa, "name": f"{company}-uaa", "space_guid": space_guid, "type": "managed",
         "offering": "predix-uaa", "plan": "Tiered"},
        {"guid": drain, "name": f"{company}-log-drain", "space_guid": space_guid, "type": "user-provided"},
    ]  # fmt: skip
    return space_guid, [uaa, drain]


def _weighted(rng: random.Random, choices):
    values, weights = zip(*choices, strict=True)
    return rng.choices(values, weights=weights)[0]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="cfsim.fleet", description="Print a fleet seed for cfsim")
    parser.add_argument("count", type=int, help="how many EC services")
    parser.add_argument("--fleet-seed", type=int, default=0, help="the same seed gives the same fleet")
    args = parser.parse_args(argv)
    json.dump(fleet_seed(args.count, args.fleet_seed), sys.stdout, indent=1)
    print()


if __name__ == "__main__":
    main()
