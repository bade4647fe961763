"""Clean-up on CF after upgrades ended: old apps whose retention window ran out, and the sweep of
everything labelled `ecportal.io/upgrade` that should no longer exist.

The rules of the steps hold here too: only what carries the portal's label is ever deleted, never an
app that serves a route the portal did not create, never the app a completed upgrade left serving,
and never an upgrade's blue unless the retention clean-up claimed it. Each call observes first, so
running twice is harmless (a resource already gone is done).
"""

import logging

from django.conf import settings
from django.utils import timezone

from upgrades import deadlines, foundations
from upgrades.cloudfoundry import CFClient, CFError, NotFound
from upgrades.cloudfoundry.factory import client_for
from upgrades.foundations import Foundation
from upgrades.models import ServiceUpgrade
from upgrades.workflow import State

log = logging.getLogger(__name__)


def delete_expired_retentions() -> int:
    """Delete the old apps whose retention window ended. Safe to run twice: the deletion is claimed
    first (so none can be restored meanwhile), sent, and recorded done only once CF answers (a 404
    is done too); a CF error or an app still serving a route leaves the claim for the next round."""
    deleted = 0
    for service in deadlines.claim_expired_retentions():
        foundation = foundations.by_slug(service.foundation)
        if foundation is None:
            log.warning(
                "retention clean-up of service %s: foundation %s unknown", service.pk, service.foundation
            )
            continue
        try:
            deleted += _delete_retained(client_for(foundation), service)
        except CFError as error:
            log.warning("retention clean-up of service %s failed, retried next round: %s", service.pk, error)
    return deleted


def _delete_retained(cf: CFClient, service: ServiceUpgrade) -> int:
    try:
        app = cf.get_app(service.blue_app_guid)
    except NotFound:
        deadlines.record_blue_removed(service)
        return 0
    if app.labels.get(settings.ENGINE_LABEL) != str(service.pk):
        # Someone relabelled it since: never delete what is not the portal's.
        deadlines.record_blue_removed(
            service, f"The previous release's app {app.name} no longer carries this upgrade's label: kept."
        )
        return 0
    if _serving(cf, app.guid, set()):
        log.warning("retention clean-up of service %s: app %s serves a route, kept", service.pk, app.guid)
        deadlines.note_blue_kept(
            service,
            f"The previous release's app {app.name} still serves a route, so it is not deleted; "
            "it is deleted once no route leads to it.",
        )
        return 0
    try:
        cf.delete_app(app.guid)
        cf.get_app(app.guid)  # the delete is a job: done once CF no longer has the app
    except NotFound:
        deadlines.record_blue_removed(service)
    return 1


def sweep(*, clean: bool = False) -> dict:
    """List what the portal left behind on every foundation, record it for the EC team's home, and
    with `clean` delete it. Foundations served by one API are swept once."""
    found = removed = 0
    seen_apis: set[str] = set()
    for foundation in foundations.all_foundations():
        if foundation.api_url in seen_apis:
            continue
        seen_apis.add(foundation.api_url)
        try:
            leftovers = _sweep_one(foundation, clean=clean)
        except CFError as error:
            log.warning("sweep of %s skipped: %s", foundation.slug, error)
            continue
        removed += sum(1 for facts in leftovers if facts.pop("removed", False))
        deadlines.record_leftovers(
            foundation.slug, [f for f in leftovers if not f.get("gone")], timezone.now()
        )
        found += len(leftovers)
    return {"found": found, "removed": removed}


def _sweep_one(foundation: Foundation, *, clean: bool) -> list[dict]:
    cf = client_for(foundation)
    apps = cf.list_apps(label_selector=settings.ENGINE_LABEL)
    routes = cf.list_routes(label_selector=settings.ENGINE_LABEL)
    ids = {_upgrade_id(r.labels) for r in [*apps, *routes]} - {None}
    upgrades = ServiceUpgrade.objects.in_bulk(ids)
    ours = {r.guid for r in routes if _unwanted_route(upgrades.get(_upgrade_id(r.labels)), r.labels)}
    leftovers, deletable = [], set(ours)
    for route in routes:
        if route.guid in ours:
            leftovers.append(_facts("route", route.guid, route.url, route.labels, "its upgrade has ended"))
        elif _upgrade_id(route.labels) is not None and _upgrade_id(route.labels) not in upgrades:
            leftovers.append(_facts("route", route.guid, route.url, route.labels, _UNKNOWN))
    for app in apps:
        upgrade = upgrades.get(_upgrade_id(app.labels))
        why = _unwanted_app(upgrade, app.guid, app.labels)
        if why and not _serving(cf, app.guid, ours):
            leftovers.append(_facts("app", app.guid, app.name, app.labels, why))
            if upgrade is not None:
                deletable.add(app.guid)
    if clean:
        for facts in leftovers:
            if facts["guid"] in deletable:
                _remove(cf, facts)
    return leftovers


# Another portal (or a copy of this one) may share the foundation and label its own upgrades: what
# carries an id this portal does not know is listed for the EC team, never deleted.
_UNKNOWN = "no upgrade of this portal has this id (another portal's?): listed, never deleted"


def _upgrade_id(labels: dict) -> int | None:
    value = labels.get(settings.ENGINE_LABEL, "")
    return int(value) if value.isdigit() else None


def _unwanted_route(upgrade: ServiceUpgrade | None, labels: dict) -> bool:
    """A route the portal made (a temporary route) outlives nothing: unwanted once its upgrade ended."""
    if _upgrade_id(labels) is None or upgrade is None:
        return False
    return State(upgrade.state).is_terminal


def _unwanted_app(upgrade: ServiceUpgrade | None, guid: str, labels: dict) -> str:
    """Why a labelled app should no longer exist, or "" when it should (or it is not ours to judge)."""
    if _upgrade_id(labels) is None:
        return ""
    if upgrade is None:
        return _UNKNOWN
    if not State(upgrade.state).is_terminal:
        return ""
    if upgrade.state == State.COMPLETED and guid == upgrade.green_app_guid:
        return ""  # the app the upgrade left serving
    if guid == upgrade.blue_app_guid:
        return "its retention window ended" if upgrade.blue_deleted else ""
    return f"its upgrade is {State(upgrade.state).label.lower()}"


def _serving(cf: CFClient, app_guid: str, swept_routes: set[str]) -> bool:
    """The app is a destination of a route other than the portal's own unwanted ones."""
    return any(route.guid not in swept_routes for route in cf.list_routes(app_guids=[app_guid]))


def _facts(kind: str, guid: str, name: str, labels: dict, reason: str) -> dict:
    return {
        "kind": kind,
        "guid": guid,
        "name": name[:300],
        "upgrade_label": labels.get(settings.ENGINE_LABEL, ""),
        "reason": reason,
    }


def _remove(cf: CFClient, facts: dict) -> None:
    """Delete one leftover (its job runs on in CF; the next sweep sees whether it went)."""
    try:
        if facts["kind"] == "route":
            cf.delete_route(facts["guid"])
        else:
            cf.delete_app(facts["guid"])
    except NotFound:
        pass
    except CFError as error:
        log.warning("leftover %s %s not removed: %s", facts["kind"], facts["guid"], error)
        return
    facts.update(removed=True, gone=True)
