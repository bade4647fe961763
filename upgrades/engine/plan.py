"""What will happen: the CF resources an upgrade creates, changes and deletes, as data people approve.

Preflight surveys the service and stores the plan on it with its fingerprint; approval records that
fingerprint. When Step 1 starts, the engine surveys again: a plan that changed since approval sends
the service back for approval with the difference in words. Environment variables are counted, never
read into the plan (their values are secrets).
"""

import hashlib
import json
from dataclasses import dataclass

from django.conf import settings

from upgrades.cloudfoundry import CFClient
from upgrades.engine.context import StepFailed, found
from upgrades.engine.inspect import Standing
from upgrades.foundations import Foundation
from upgrades.models import ServiceUpgrade

PLAN_VERSION = 1

# The old app's fate in the fingerprint: what the plan says about it depends on RETENTION_SECONDS (kept
# aside for a while, or deleted at once), a setting and not CF, so it is hashed as these fixed words
# (the wording of plans approved before the retention window existed, which keeps their fingerprints).
_OLD_APP_FATE = "stopped, then deleted"


class PlanChanged(StepFailed):
    """CF no longer looks as it did when the plan was approved: approval is needed again."""

    def __init__(self, changes: list[str], plan: dict):
        super().__init__(f"The plan changed since approval: {'; '.join(changes)}. It needs approval again.")
        self.plan = plan


@dataclass(frozen=True)
class Target:
    """Where the upgrade acts: the service, the release it installs and what inspection found."""

    service: ServiceUpgrade
    foundation: Foundation
    standing: Standing


def fingerprint(plan: dict) -> str:
    """A stable hash of a plan: SHA-256 of its canonical JSON (sorted keys, no whitespace)."""
    plan = {**plan, "delete": [_without_fate(item, plan) for item in plan.get("delete", [])]}
    canonical = json.dumps(plan, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def survey(cf: CFClient, target: Target) -> dict:
    """Read what the upgrade will touch and say what it will do to each resource, by name and GUID."""
    s, standing = target.service, target.standing
    release = s.request.release
    blue = found(cf.get_app, standing.blue_app_guid)
    old_app = _old_app(cf, blue, standing)
    route = found(cf.get_route, standing.original_route_guid)
    original = {
        "url": f"{s.zone_id}.{s.domain}",
        "guid": standing.original_route_guid,
        "app_guids": sorted({d.app_guid for d in route.destinations}) if route else [],
    }
    bound = cf.list_credential_bindings(app_guids=[blue.guid]) if blue else []
    bindings = sorted(
        ({"name": b.name or "", "service_instance_guid": b.service_instance_guid} for b in bound),
        key=lambda b: (b["service_instance_guid"], b["name"]),
    )
    green = f"{old_app['name']}-{release.name}"
    temporary = f"{s.zone_id}-upgrade-….{s.domain}"
    return {
        "version": PLAN_VERSION,
        "foundation": target.foundation.name,
        "space_guid": standing.space_guid,
        "release": {"name": release.name, "image": release.docker_image},
        "old_app": old_app,
        "original_route": original,
        "bindings": bindings,
        "create": [
            _item("app", green, "", _green_words(old_app, release.docker_image)),
            _item("route", temporary, "", "temporary route"),
            *(
                _item(
                    "binding",
                    b["name"] or b["service_instance_guid"],
                    b["service_instance_guid"],
                    f"bound to {green}, as to {old_app['name']}",
                )
                for b in bindings
            ),
        ],
        "change": [
            _item("route", original["url"], original["guid"], f"moves from {old_app['name']} to {green}"),
            _item("app", green, "", f"renamed to {old_app['name']}"),
        ],
        "delete": [
            _item("app", old_app["name"], old_app["guid"], _old_app_fate(s, old_app["name"])),
            _item("route", temporary, "", "the temporary route"),
        ],
    }


def _old_app_fate(service: ServiceUpgrade, name: str) -> str:
    """What becomes of the old app after Step 2, as RETENTION_SECONDS says (the engine's `delete_blue`)."""
    seconds = settings.RETENTION_SECONDS
    if seconds <= 0:
        return _OLD_APP_FATE
    count, unit = (seconds / 86400, "day") if seconds % 86400 == 0 else (seconds / 3600, "hour")
    kept = f"{count:g} {unit}{'' if count == 1 else 's'}"
    return f"stopped, renamed {name}-previous-{service.pk} and kept {kept} for a restore, then deleted"


def _without_fate(item: dict, plan: dict) -> dict:
    old_app = plan.get("old_app", {})
    if item.get("kind") == "app" and item.get("guid") == old_app.get("guid", object()):
        return {**item, "what": _OLD_APP_FATE}
    return item


def _item(kind: str, name: str, guid: str, what: str) -> dict:
    return {"kind": kind, "name": name, "guid": guid, "what": what}


def _old_app(cf: CFClient, blue, standing: Standing) -> dict:
    """The app serving the route now: its scale and how many environment variables it has."""
    processes = cf.list_app_processes(blue.guid) if blue else []
    web = next((p for p in processes if p.type == "web"), None)
    return {
        "name": blue.name if blue else standing.blue_app_name,
        "guid": standing.blue_app_guid,
        "image_release": standing.blue_release,
        "instances": web.instances if web else 0,
        "memory_in_mb": web.memory_in_mb if web else None,
        "disk_in_mb": web.disk_in_mb if web else None,
        "env_var_count": len(cf.get_env_vars(blue.guid)) if blue else 0,
    }


def _green_words(old_app: dict, image: str) -> str:
    memory = f" × {old_app['memory_in_mb']} MB" if old_app["memory_in_mb"] else ""
    return (
        f"image {image}, {old_app['instances']} instances{memory}, "
        f"{old_app['env_var_count']} environment variables copied"
    )


def differences(approved: dict, now: dict) -> list[str]:
    """What changed between the approved plan and now, in words ("instances 2 → 3 since approval")."""
    if not approved:
        return []
    was, is_ = approved.get("old_app", {}), now.get("old_app", {})
    words = []
    for key, label, unit in (
        ("guid", "the app behind the route", ""),
        ("instances", "instances", ""),
        ("memory_in_mb", "memory", " MB"),
        ("disk_in_mb", "disk", " MB"),
        ("env_var_count", "environment variables", ""),
        ("image_release", "the running release", ""),
    ):
        if was.get(key) != is_.get(key):
            words.append(f"{label} {was.get(key)}{unit} → {is_.get(key)}{unit} since approval")
    words += _binding_changes(approved.get("bindings", []), now.get("bindings", []))
    words += _route_changes(approved.get("original_route", {}), now.get("original_route", {}))
    if not words and fingerprint(approved) != fingerprint(now):
        words.append("the resources to create, change or delete differ from the approved plan")
    return words


def _binding_changes(was: list[dict], now: list[dict]) -> list[str]:
    def names(bindings):
        return {b["service_instance_guid"]: b["name"] or b["service_instance_guid"] for b in bindings}

    before, after = names(was), names(now)
    added = [after[g] for g in sorted(after.keys() - before.keys())]
    removed = [before[g] for g in sorted(before.keys() - after.keys())]
    words = [f"binding {name} added since approval" for name in added]
    return words + [f"binding {name} removed since approval" for name in removed]


def _route_changes(was: dict, now: dict) -> list[str]:
    before, after = set(was.get("app_guids", [])), set(now.get("app_guids", []))
    words = [f"another app ({guid}) on the route since approval" for guid in sorted(after - before)]
    if not after:
        words.append("no app on the route any more")
    elif was.get("guid") != now.get("guid"):
        words.append("the route was replaced since approval")
    return words
