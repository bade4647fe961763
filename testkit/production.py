"""The environment production settings (`ecportal.settings.production`) refuse to start without, in one
place: the tests that start a production process build it with `production_env()`, and the deployment
files (manifest.yml, docker-compose.yml) are checked to set every name in `REQUIRED`."""

from __future__ import annotations

import os

# Every variable production settings refuse to start without, with a value they accept. A new required
# setting is added here once; the tests of the deployment files and of the settings follow.
REQUIRED = {
    "SECRET_KEY": "s" * 20 + "-k3y-" + "x" * 40,
    "ALLOWED_HOSTS": "ecportal.example.com",
    "EVIDENCE_KEY": "e" * 20 + "-evidence-" + "y" * 20,
    "CACHE_URL": os.environ.get("CACHE_URL", "redis://127.0.0.1:6379/14"),
    "METRICS_TOKEN": "m" * 32,
}
# What production settings would take from the surroundings and a test must not inherit.
_UNSET = ("DEBUG", "LOG_FORMAT", *REQUIRED)


def production_env(**overrides: str | None) -> dict[str, str]:
    """This process's environment with production settings and every required variable set; an override
    of None removes that variable."""
    env = {k: v for k, v in os.environ.items() if k not in _UNSET}
    env.update(DJANGO_SETTINGS_MODULE="ecportal.settings.production", **REQUIRED)
    env.update(overrides)
    return {k: v for k, v in env.items() if v is not None}
