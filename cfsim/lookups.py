"""Small helpers the handlers share: 404-raising lookups and metadata updates."""

from __future__ import annotations

import re

from cfsim.errors import not_found, unprocessable

# CF's metadata rules: names and values up to 63 characters of [A-Za-z0-9-_.], alphanumeric at both
# ends; a key may carry a DNS prefix ("ecportal.io/upgrade") of up to 253 characters.
_LABEL_PART = re.compile(r"^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$")
_PREFIX = re.compile(r"^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$")


def get_or_404[T](collection: dict[str, T], guid: str, kind: str) -> T:
    item = collection.get(guid)
    if item is None:
        raise not_found(kind)
    return item


def relationship_guid(body: dict, name: str) -> str | None:
    """``relationships.<name>.data.guid`` of a request body, or None."""
    try:
        return body["relationships"][name]["data"]["guid"]
    except (KeyError, TypeError):
        return None


def apply_metadata(body: dict, labels: dict, annotations: dict) -> None:
    """Merge ``metadata.labels``/``annotations`` of a body into a resource; null deletes a key."""
    metadata = body.get("metadata") or {}
    if not isinstance(metadata, dict):
        raise unprocessable("Metadata must be an object")
    for name, value in (metadata.get("labels") or {}).items():
        _check_label(name, value)
    for target, key in ((labels, "labels"), (annotations, "annotations")):
        for name, value in (metadata.get(key) or {}).items():
            if value is None:
                target.pop(name, None)
            else:
                target[name] = str(value)


def _check_label(key: str, value: object) -> None:
    prefix, _, name = key.rpartition("/")
    if not name or not _LABEL_PART.match(name) or (prefix and not _PREFIX.match(prefix)):
        raise unprocessable(f"Metadata label key error: '{key}' is not a valid label key")
    if value is not None and (not isinstance(value, str) or not _LABEL_PART.match(value)):
        raise unprocessable(f"Metadata label value error: '{value}' is not a valid label value")
