"""What a sign-in costs: the password check of each hasher, side by side in this run.

    .venv/bin/python bench/login.py [--rounds 20]

Hashes one password with the portal's hasher (Argon2id at OWASP's cost), Django's default Argon2 and
Django's PBKDF2 (its default before), then checks it `--rounds` times with each, taking turns so all
three are measured under the same load. Prints the median and p95 ms and each one's ratio to the
portal's. A sign-in's own work besides the check (a session, a few queries) is a few ms.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ecportal.settings")

HASHERS = {
    "portal (Argon2id, 19 MiB, t=2, p=1)": "ecportal.hashers.PortalArgon2PasswordHasher",
    "Django's Argon2 default": "django.contrib.auth.hashers.Argon2PasswordHasher",
    "Django's PBKDF2 default": "django.contrib.auth.hashers.PBKDF2PasswordHasher",
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args()
    import django
    from django.utils.module_loading import import_string

    django.setup()
    hashers = {name: import_string(path)() for name, path in HASHERS.items()}
    encoded = {name: hasher.encode("ecportal-demo", hasher.salt()) for name, hasher in hashers.items()}
    times: dict[str, list[float]] = {name: [] for name in hashers}
    for _ in range(args.rounds):
        for name, hasher in hashers.items():
            started = time.perf_counter()
            assert hasher.verify("ecportal-demo", encoded[name])
            times[name].append((time.perf_counter() - started) * 1000)
    portal = statistics.median(times[next(iter(HASHERS))])
    print(f"{'password check':<40}{'median ms':>10}{'p95 ms':>9}{'x portal':>10}")
    for name, measured in times.items():
        measured.sort()
        median = statistics.median(measured)
        p95 = measured[max(0, int(len(measured) * 0.95) - 1)]
        print(f"{name:<40}{median:>10.1f}{p95:>9.1f}{median / portal:>10.1f}")


if __name__ == "__main__":
    main()
