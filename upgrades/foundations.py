"""The configured Cloud Foundry foundations. Configuration only: secrets stay in the environment."""

import os
from dataclasses import dataclass
from functools import cache

from django.conf import settings


@dataclass(frozen=True)
class Foundation:
    slug: str
    name: str
    domains: tuple[str, ...]
    api_url: str
    client_id: str
    secret_env: str
    # Where the EC Service says which release it runs (`/v1beta/info/` on dev foundations).
    health_path: str = "/v1/info/"
    # Requests to the foundation's apps go to this address with the app's host in `Host`, where the
    # apps' own names do not resolve (a simulator, a private network); "" sends them to the URL itself.
    router_url: str = ""

    @property
    def client_secret(self) -> str:
        """Read at call time from the environment variable the configuration names."""
        return os.environ.get(self.secret_env, "")


def parse(items: list[dict]) -> tuple[Foundation, ...]:
    """Foundations from their configuration (a list of dicts, as in settings.FOUNDATIONS)."""
    return tuple(
        Foundation(
            slug=item["slug"],
            name=item["name"],
            domains=tuple(domain.lower() for domain in item["domains"]),
            api_url=item["api_url"].rstrip("/"),
            client_id=item["client_id"],
            secret_env=item["secret_env"],
            health_path=item.get("health_path") or "/v1/info/",
            router_url=(item.get("router_url") or "").rstrip("/"),
        )
        for item in items
    )


@cache
def _configured() -> tuple[Foundation, ...]:
    return parse(settings.FOUNDATIONS)


def all_foundations() -> tuple[Foundation, ...]:
    return _configured()


def for_domain(domain: str) -> Foundation | None:
    """The foundation serving `domain` (case-insensitive), or None."""
    domain = domain.lower()
    return next((f for f in _configured() if domain in f.domains), None)


def by_slug(slug: str) -> Foundation | None:
    return next((f for f in _configured() if f.slug == slug), None)


def name_of(slug: str) -> str:
    """The foundation's display name ("Predix West / Basic"), or its slug if it is no longer configured
    (a service filed before the configuration changed still shows something)."""
    foundation = by_slug(slug)
    return foundation.name if foundation else slug


def known_domains() -> list[str]:
    return [domain for foundation in _configured() for domain in foundation.domains]


def choices() -> list[tuple[str, str]]:
    return [(f.slug, f.name) for f in _configured()]
