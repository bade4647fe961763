"""The topology picture follows the recorded state through the five stages, and back on rollback."""

import pytest

from upgrades.models import ServiceUpgrade
from upgrades.web import topology

ZONE = "ec000001-0000-4000-8000-000000000001"
DOMAIN = "run.aws-usw02-pr.ice.predix.io"


def service(state: str, step: str = "", **facts) -> ServiceUpgrade:
    base = dict(
        zone_id=ZONE, domain=DOMAIN, state=state, step=step, blue_app_name="acme", blue_release="sendai.120",
        instances_desired=2, instances_running=2,
    )  # fmt: skip
    return ServiceUpgrade(**{**base, **facts})


GREEN = dict(green_app_guid="g1", green_app_name="acme-okinawa.130")
TEMP = dict(temp_host=f"{ZONE}-upgrade-abc123", temp_route_guid="r2")


def shape(picture: topology.Picture):
    return picture.stage, [a.colour for a in picture.apps], [(r.kind, r.apps) for r in picture.routes]


@pytest.mark.parametrize(
    "svc, expected",
    [
        (service("submitted"), (1, ["blue"], [("original", ("blue",))])),
        # Green is being prepared, its temporary route not made yet: still stage 1, not stage 2.
        (service("step1_running", "stage", **GREEN), (1, ["blue", "green"], [("original", ("blue",))])),
        (
            service("step1_running", "create_temp_route", **GREEN, **TEMP),
            (2, ["blue", "green"], [("original", ("blue",)), ("temporary", ())]),
        ),
        (
            service("awaiting_verification", **GREEN, **TEMP),
            (2, ["blue", "green"], [("original", ("blue",)), ("temporary", ("green",))]),
        ),
        (
            service("step2_running", "unmap_blue", **GREEN, **TEMP),
            (3, ["blue", "green"], [("original", ("blue", "green")), ("temporary", ("green",))]),
        ),
        (
            service("step2_running", "stop_blue", **GREEN),
            (4, ["blue", "green"], [("original", ("green",))]),
        ),
        (
            service("step2_running", "rename_green", blue_deleted=True, blue_stopped=True, **GREEN),
            (5, ["green"], [("original", ("green",))]),
        ),
        (service("completed", blue_deleted=True, **GREEN), (5, ["green"], [("original", ("green",))])),
        (
            service("rolling_back", "rb_unmap_green", **GREEN, **TEMP),
            (2, ["blue", "green"], [("original", ("blue",)), ("temporary", ("green",))]),
        ),
        (service("rolled_back", **TEMP), (1, ["blue"], [("original", ("blue",))])),
    ],
)
def test_stage_from_recorded_state(svc, expected):
    assert shape(topology.picture_for(svc, target_release="okinawa.130")) == expected


def test_rollback_after_step2_walks_back_through_both_apps():
    stopped = service("rolling_back", "rb_start_blue", blue_stopped=True, **GREEN)
    assert shape(topology.picture_for(stopped, target_release="x", reached_step2=True))[0] == 4
    both = service("rolling_back", "rb_unmap_green", **GREEN)
    picture = topology.picture_for(both, target_release="x", reached_step2=True)
    assert picture.rolling_back and picture.stage == 3
    assert picture.title == "Rolling back · Stage 3 of 5: the original route on both apps"
    back = service("rolling_back", "rb_delete_temp_route", **GREEN)
    assert shape(topology.picture_for(back, target_release="x", reached_step2=True))[0] == 2


def test_svg_is_labelled_and_escapes_names():
    svc = service("awaiting_verification", **{**GREEN, "green_app_name": "<b>evil</b>"}, **TEMP)
    picture = topology.picture_for(svc, target_release="okinawa.130")
    svg = topology.render(picture, "s1")
    assert svg.startswith('<svg class="topology" role="img"')
    assert 'aria-label="Stage 2 of 5: two apps, two routes"' in svg
    assert "<b>" not in svg and "&lt;b&gt;evil&lt;/b&gt;" in svg
    assert 'marker-end="url(#s1-arrow-green)"' in svg and 'id="s1-arrow-green"' in svg
    assert (
        f"The temporary route https://{ZONE}-upgrade-abc123.{DOMAIN} sends traffic to" in picture.description
    )
    assert "style=" not in svg, "no inline styles under the CSP"


def test_the_five_example_stages():
    stages = [picture.stage for picture, _ in topology.examples()]
    assert stages == [1, 2, 3, 4, 5]


def test_green_counts_only_once_started():
    staging = service("step1_running", "stage", **GREEN)
    green = topology.picture_for(staging, target_release="okinawa.130").apps[1]
    assert green.status == "not started yet", "the recorded count is still blue's"
    starting = service("step1_running", "wait_running", instances_running=1, **GREEN, **TEMP)
    assert topology.picture_for(starting, target_release="x").apps[1].status == "1 of 2 instances running"


def test_stage_2_only_once_the_temporary_route_exists():
    preparing = topology.picture_for(service("step1_running", "bind", **GREEN), target_release="okinawa.130")
    assert preparing.title == "Stage 1 of 5: one app, one route"
    assert "The new app is being prepared; its temporary route comes next." in preparing.description
    routed = service("step1_running", "map_temp_route", **GREEN, **TEMP)
    assert (
        topology.picture_for(routed, target_release="okinawa.130").title
        == "Stage 2 of 5: two apps, two routes"
    )


def test_before_step_1_the_old_app_shows_its_release():
    svg = topology.render(topology.picture_for(service("approved"), target_release="okinawa.130"), "s1")
    assert "old app · sendai.120" in svg and "current release" not in svg
    unknown = topology.picture_for(service("submitted", blue_release=""), target_release="okinawa.130")
    assert "current release" not in topology.render(unknown, "s2") and "(2 of 2 instances running)" in (
        unknown.description
    )


def test_long_app_names_are_shown_whole_on_several_lines():
    long_green = f"{ZONE}-okinawa.130"  # EC apps are named by their zone ID: 48 characters here
    svc = service(
        "awaiting_verification", **{**GREEN, "green_app_name": long_green, "blue_app_name": ZONE}, **TEMP
    )
    svg = str(topology.render(topology.picture_for(svc, target_release="okinawa.130"), "s1"))
    boxes = svg.split('<g class="app ')[1:]
    assert len(boxes) == 2 and not any("…" in box for box in boxes), "no app name cut off"
    spans = [part.split(">", 1)[1] for part in svg.split("<tspan")[1:]]
    lines = [span.split("</tspan>")[0] for span in spans]
    assert "".join(lines) == ZONE + long_green and all(len(line) <= 27 for line in lines)
    assert lines[-1] == "okinawa.130" or lines[-1].endswith("okinawa.130")


def test_one_instance_is_one_instance():
    one = service("awaiting_verification", instances_desired=1, instances_running=1, **GREEN, **TEMP)
    assert topology.picture_for(one, target_release="x").apps[1].status == "1 of 1 instance running"
