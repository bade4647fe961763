"""Bound services on Cloud Foundry: the database and Redis URLs from `VCAP_SERVICES`.

On CF, the platform hands an app the credentials of its bound services as JSON in `VCAP_SERVICES`
(`{"<offering>": [{"name", "label", "tags", "credentials": {"uri" | "url", …}}, …]}`). The settings take
`DATABASE_URL`, `CELERY_BROKER_URL` and `CACHE_URL` from there when they are not set themselves.
"""

import json
from collections.abc import Iterator

_KINDS = {"postgres": ("postgres", "postgresql"), "redis": ("redis",)}


def _services(vcap: dict) -> Iterator[dict]:
    for instances in vcap.values():
        if isinstance(instances, list):
            yield from (instance for instance in instances if isinstance(instance, dict))


def _is(kind: str, service: dict) -> bool:
    words = [str(service.get("label", "")), *map(str, service.get("tags") or [])]
    return any(word.lower().startswith(_KINDS[kind]) for word in words)


def _url(service: dict) -> str | None:
    credentials = service.get("credentials") or {}
    return credentials.get("uri") or credentials.get("url") or None


def bound_urls(text: str) -> dict[str, str]:
    """The settings' URL variables named by the bound services in `text` (VCAP_SERVICES), by variable.

    The first postgres-labelled or -tagged service is the database; the first Redis is both the broker
    and the cache (their keys do not collide). Empty when `text` is empty; ValueError when it is not JSON.
    """
    if not text.strip():
        return {}
    vcap = json.loads(text)
    if not isinstance(vcap, dict):
        raise ValueError("VCAP_SERVICES is not a JSON object")
    found: dict[str, str] = {}
    for service in _services(vcap):
        url = _url(service)
        if url and _is("postgres", service):
            found.setdefault("DATABASE_URL", url)
        elif url and _is("redis", service):
            found.setdefault("CELERY_BROKER_URL", url)
            found.setdefault("CACHE_URL", url)
    return found
