"""Packages, builds and droplets in the Cloud Controller v3 JSON shapes."""

from __future__ import annotations

from cfsim.presenters import link, meta, rel
from cfsim.state import Build, Droplet, Package


def package(base: str, pkg: Package) -> dict:
    return {
        "guid": pkg.guid,
        "type": pkg.type,
        "data": {"image": pkg.image, "username": None, "password": None} if pkg.type == "docker" else {},
        "state": pkg.state,
        "created_at": pkg.created_at,
        "updated_at": pkg.updated_at,
        "relationships": {"app": rel(pkg.app_guid)},
        "metadata": meta(pkg.labels, pkg.annotations),
        "links": {
            "self": link(base, f"/v3/packages/{pkg.guid}"),
            "app": link(base, f"/v3/apps/{pkg.app_guid}"),
        },
    }


def build(base: str, bld: Build) -> dict:
    return {
        "guid": bld.guid,
        "created_at": bld.created_at,
        "updated_at": bld.updated_at,
        "state": bld.state,
        "staging_memory_in_mb": 1024,
        "staging_disk_in_mb": 1024,
        "staging_log_rate_limit_bytes_per_second": -1,
        "error": bld.error,
        "lifecycle": {"type": "docker", "data": {}},
        "package": {"guid": bld.package_guid},
        "droplet": {"guid": bld.droplet_guid} if bld.droplet_guid else None,
        "created_by": {"guid": "", "name": "", "email": ""},
        "relationships": {"app": rel(bld.app_guid)},
        "metadata": meta(bld.labels),
        "links": {
            "self": link(base, f"/v3/builds/{bld.guid}"),
            "app": link(base, f"/v3/apps/{bld.app_guid}"),
            **({"droplet": link(base, f"/v3/droplets/{bld.droplet_guid}")} if bld.droplet_guid else {}),
        },
    }


def droplet(base: str, drop: Droplet) -> dict:
    return {
        "guid": drop.guid,
        "state": drop.state,
        "error": None,
        "lifecycle": {"type": "docker", "data": {}},
        "execution_metadata": "",
        "process_types": {"web": ""},
        "checksum": None,
        "buildpacks": None,
        "stack": None,
        "image": drop.image,
        "created_at": drop.created_at,
        "updated_at": drop.created_at,
        "relationships": {"app": rel(drop.app_guid)},
        "metadata": meta({}),
        "links": {
            "self": link(base, f"/v3/droplets/{drop.guid}"),
            "app": link(base, f"/v3/apps/{drop.app_guid}"),
            "assign_current_droplet": link(
                base, f"/v3/apps/{drop.app_guid}/relationships/current_droplet", "PATCH"
            ),
        },
    }
