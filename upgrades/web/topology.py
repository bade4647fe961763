"""The picture of one service's apps and routes, drawn as SVG on the server from the recorded state.

An upgrade moves through five stages (one app one route → two apps two routes → the original route on
both apps → the original route on the new app only → one app one route); rollback walks them back.
`picture_for` reads the stage from what the engine recorded (GUIDs, flags and the current sub-step)
without calling CF; `render` draws any picture, so the "How upgrades work" page uses the same drawings.
"""

from dataclasses import dataclass, field

from django.template.defaultfilters import pluralize
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from upgrades.models import ServiceUpgrade
from upgrades.workflow import PHASES, State

STAGES = {
    1: "One app, one route",
    2: "Two apps, two routes",
    3: "The original route on both apps",
    4: "The original route on the new app only",
    5: "One app, one route, on the new release",
}


@dataclass(frozen=True)
class App:
    name: str
    release: str
    colour: str  # "blue" (the app serving today) or "green" (the new release)
    status: str  # "2 of 2 instances running", "stopped", "being deleted"


@dataclass(frozen=True)
class Route:
    kind: str  # "original" or "temporary"
    url: str
    apps: tuple[str, ...] = ()  # colours of the apps it sends traffic to


@dataclass(frozen=True)
class Picture:
    stage: int
    apps: tuple[App, ...]
    routes: tuple[Route, ...]
    rolling_back: bool = False
    notes: tuple[str, ...] = field(default=())

    @property
    def title(self) -> str:
        prefix = "Rolling back · " if self.rolling_back else ""
        return f"{prefix}Stage {self.stage} of 5: {STAGES[self.stage].lower()}"

    @property
    def description(self) -> str:
        """The picture in words, for screen readers and for anyone who prefers text."""
        by_colour = {app.colour: app for app in self.apps}
        sentences = []
        for route in self.routes:
            targets = [by_colour[c] for c in route.apps if c in by_colour]
            if targets:
                names = " and ".join(_app_words(a) for a in targets)
                sentences.append(f"The {route.kind} route {route.url} sends traffic to {names}.")
            else:
                sentences.append(f"The {route.kind} route {route.url} is not mapped to an app yet.")
        mapped = {c for route in self.routes for c in route.apps}
        for app in self.apps:
            if app.colour not in mapped:
                sentences.append(f"{_app_words(app)} takes no traffic.")
        return " ".join([*sentences, *self.notes])


def _app_words(app: App) -> str:
    """ "acme (sendai.120, 2 of 2 instances running)", without the release when it is not known."""
    return f"{app.name} ({', '.join(part for part in (app.release, app.status) if part)})"


def _index(state: State, step: str) -> int:
    """Position of `step` within the phase of `state` (0 when unknown)."""
    names = [name for name, _ in PHASES.get(state, ())]
    return names.index(step) + 1 if step in names else 0


def _after(state: State, step: str, done: str) -> bool:
    """Whether sub-step `done` of `state`'s phase has finished, `step` being the current one."""
    return _index(state, step) > _index(state, done)


def _original_route_apps(service: ServiceUpgrade, state: State, *, reached_step2: bool) -> tuple[str, ...]:
    """Which apps the original route sends traffic to, from the state and the current sub-step."""
    step = service.step
    if state == State.COMPLETED or service.blue_deleted:
        return ("green",)
    if state in (State.STEP2_RUNNING, State.STEP2_FAILED):
        if _after(State.STEP2_RUNNING, step, "unmap_blue"):
            return ("green",)
        if _after(State.STEP2_RUNNING, step, "map_original"):
            return ("blue", "green")
        return ("blue",)
    if state in (State.ROLLING_BACK, State.ROLLBACK_FAILED) and service.green_app_guid and reached_step2:
        # Step 2 had put green on the original route; rollback adds blue back first, then unmaps green.
        if _after(State.ROLLING_BACK, step, "rb_unmap_green"):
            return ("blue",)
        if _after(State.ROLLING_BACK, step, "rb_map_blue") or not service.blue_stopped:
            return ("blue", "green")
        return ("green",)
    return ("blue",)


def _temporary_mapped(service: ServiceUpgrade, state: State) -> bool:
    if state in (State.STEP1_RUNNING, State.STEP1_FAILED):
        return _after(State.STEP1_RUNNING, service.step, "map_temp_route")
    return True


def picture_for(service: ServiceUpgrade, *, target_release: str, reached_step2: bool = False) -> Picture:
    """The picture of `service` as recorded now. `reached_step2`: whether Step 2 ever started (the
    rollback then starts from the original route on the new app, not the old one)."""
    state = State(service.state)
    original_url = f"https://{service.zone_id}.{service.domain}"
    blue_name = service.blue_app_name or "the current app"
    blue_release = service.blue_release  # known from preflight on; "" only if CF did not say
    desired = service.instances_desired
    green_status = f"{service.instances_running} of {desired} instance{pluralize(desired)} running"
    if state in (State.STEP1_RUNNING, State.STEP1_FAILED) and not _after(
        State.STEP1_RUNNING, service.step, "map_temp_route"
    ):
        # Until green is started, the recorded instance count is blue's (read by preflight).
        green_status = "not started yet"
    if service.blue_stopped:
        blue_status = "stopped"
    else:
        blue_status = f"{desired} of {desired} instance{pluralize(desired)} running" if desired else "running"

    if state == State.COMPLETED:
        green = App(service.green_app_name or blue_name, target_release, "green", green_status)
        return Picture(5, (green,), (Route("original", original_url, ("green",)),))

    rolling_back = state in (State.ROLLING_BACK, State.ROLLBACK_FAILED)
    apps = [] if service.blue_deleted else [App(blue_name, blue_release, "blue", blue_status)]
    has_green = bool(service.green_app_guid) and state not in (State.ROLLED_BACK, State.CANCELLED)
    if has_green:
        apps.append(App(service.green_app_name or "the new app", target_release, "green", green_status))
    original = _original_route_apps(service, state, reached_step2=reached_step2) if has_green else ("blue",)
    routes = [Route("original", original_url, original)]
    if service.temp_host and service.temp_route_guid and has_green:
        temporary = ("green",) if _temporary_mapped(service, state) else ()
        routes.append(Route("temporary", f"https://{service.temp_host}.{service.domain}", temporary))

    preparing = state in (State.STEP1_RUNNING, State.STEP1_FAILED) and len(routes) == 1
    if not has_green or preparing:
        # Stage 2 is two apps on two routes: until the temporary route exists, the service still
        # stands as in stage 1 (the new app being prepared takes no traffic).
        stage = 1
    elif original == ("green",):
        stage = 5 if service.blue_deleted else 4
    elif "green" in original:
        stage = 3
    else:
        stage = 2
    notes: tuple[str, ...] = ()
    if service.blue_deleted:
        notes = ("The old app is deleted: this upgrade can no longer be rolled back.",)
    elif has_green and preparing:
        notes = ("The new app is being prepared; its temporary route comes next.",)
    return Picture(stage, tuple(apps), tuple(routes), rolling_back=rolling_back, notes=notes)


def examples() -> list[tuple[Picture, str]]:
    """The five stages with made-up names, for the "How upgrades work" page."""
    zone = "2f1c9a7e-5b3d-4e8a-9c61-0d4b7a2e8f13"
    original = f"https://{zone}.run.aws-usw02-pr.ice.predix.io"
    temporary = f"https://{zone}-upgrade-k3x9q2.run.aws-usw02-pr.ice.predix.io"
    blue = App("acme-ec-prod", "sendai.120", "blue", "2 of 2 instances running")
    green = App("acme-ec-prod-okinawa.130", "okinawa.130", "green", "2 of 2 instances running")
    renamed = App("acme-ec-prod", "okinawa.130", "green", "2 of 2 instances running")
    return [
        (
            Picture(1, (blue,), (Route("original", original, ("blue",)),)),
            "Before the upgrade: the service's route sends every request to the app that runs today.",
        ),
        (
            Picture(
                2,
                (blue, green),
                (Route("original", original, ("blue",)), Route("temporary", temporary, ("green",))),
            ),
            "Step 1 creates the new app next to the old one, on its own temporary route. Nothing changes "
            "for your gateways yet; test gateways may point at the temporary URL.",
        ),
        (
            Picture(
                3,
                (blue, green),
                (Route("original", original, ("blue", "green")), Route("temporary", temporary, ("green",))),
            ),
            "Step 2.1 adds the new app to the original route: for a moment both apps answer.",
        ),
        (
            Picture(
                4,
                (App("acme-ec-prod", "sendai.120", "blue", "stopped"), green),
                (Route("original", original, ("green",)),),
            ),
            "Step 2.2 takes the old app off the original route; finalizing deletes the temporary route and "
            "stops the old app.",
        ),
        (
            Picture(5, (renamed,), (Route("original", original, ("green",)),)),
            "Finalizing deletes the old app and gives the new app its name: one app, one route, on the new "
            "release.",
        ),
    ]


# --- Drawing ---------------------------------------------------------------------------------------

_WIDTH = 560
_ROW = 92  # vertical space per row (a route pill on the left, an app box on the right)
_PILL_X, _PILL_W, _PILL_H = 6, 214, 40
_BOX_X, _BOX_W, _BOX_H = 326, 228, 72


def _short(url: str) -> str:
    """A route's host, short enough for its pill: the zone ID's first block and any upgrade suffix."""
    host = url.removeprefix("https://").split(".", 1)[0]
    zone, _, suffix = host.partition("-upgrade-")
    return f"{zone[:8]}…-upgrade-{suffix}" if suffix else f"{zone[:8]}…{zone[-4:]}"


_NAME_CHARS = 27  # of a bold app name, per line of its box
_LINE = 16  # px per extra line


def _fit(text: str, limit: int = 27) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _lines(name: str, limit: int = _NAME_CHARS) -> list[str]:
    """An app name in lines of at most `limit` characters, broken after a `-` or `.` where one is
    near (`ec-acme-prod-` / `okinawa.130`), so a long name is shown whole, never cut off."""
    lines = []
    while len(name) > limit:
        cut = max(name.rfind("-", 0, limit), name.rfind(".", 0, limit)) + 1
        cut = cut if cut > limit // 2 else limit
        lines.append(name[:cut])
        name = name[cut:]
    return [*lines, name]


def render(picture: Picture, uid: str) -> SafeString:
    """The picture as an inline `<svg role="img">`; `uid` keeps ids unique on a page with several."""
    names = {app.colour: _lines(app.name) for app in picture.apps}
    extra = max((len(lines) - 1 for lines in names.values()), default=0) * _LINE
    row = _ROW + extra  # every row as tall as the tallest box, so arrows stay level
    rows = max(len(picture.apps), len(picture.routes), 1)
    height = rows * row + 8
    app_y = {app.colour: 12 + i * row for i, app in enumerate(picture.apps)}
    parts = []
    for i, route in enumerate(picture.routes):
        y = 12 + i * row + (_BOX_H + extra - _PILL_H) // 2
        parts.append(
            format_html(
                '<g class="route route-{}"><rect x="{}" y="{}" width="{}" height="{}" rx="20"/>'
                '<text x="{}" y="{}" class="label">{} route</text><text x="{}" y="{}">{}</text></g>',
                route.kind, _PILL_X, y, _PILL_W, _PILL_H,
                _PILL_X + 16, y + 16, route.kind, _PILL_X + 16, y + 32, _short(route.url),
            )
        )  # fmt: skip
        for colour in route.apps:
            if colour not in app_y:
                continue
            start_y, end_y = y + _PILL_H // 2, app_y[colour] + (_BOX_H + extra) // 2
            parts.append(
                format_html(
                    '<path class="map map-{}" d="M{} {} C{} {} {} {} {} {}" marker-end="url(#{}-arrow-{})"/>',
                    colour, _PILL_X + _PILL_W, start_y, _PILL_X + _PILL_W + 40, start_y,
                    _BOX_X - 44, end_y, _BOX_X - 4, end_y, uid, colour,
                )
            )  # fmt: skip
    for app in picture.apps:
        y = app_y[app.colour]
        lines = names[app.colour]
        below = y + (len(lines) - 1) * _LINE  # where the lines after the name start
        name = format_html_join(
            "",
            '<tspan x="{}" dy="{}">{}</tspan>',
            ((_BOX_X + 12, 0 if n == 0 else _LINE, line) for n, line in enumerate(lines)),
        )
        role = "old app" if app.colour == "blue" else "new app"
        release = format_html("{} · {}", role, _fit(app.release, 18)) if app.release else role
        parts.append(
            format_html(
                '<g class="app app-{}"><rect x="{}" y="{}" width="{}" height="{}" rx="8"/>'
                '<text x="{}" y="{}" class="name">{}</text><text x="{}" y="{}">{}</text>'
                '<text x="{}" y="{}" class="status">{}</text></g>',
                app.colour, _BOX_X, y, _BOX_W, _BOX_H + extra,
                _BOX_X + 12, y + 22, name, _BOX_X + 12, below + 42, release,
                _BOX_X + 12, below + 60, app.status,
            )
        )  # fmt: skip
    markers = format_html_join(
        "",
        '<marker id="{}-arrow-{}" class="arrow-{}" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" '
        'markerHeight="7" orient="auto"><path d="M0 0 L10 5 L0 10 z"/></marker>',
        ((uid, colour, colour) for colour in ("blue", "green")),
    )
    return format_html(
        '<svg class="topology" role="img" viewBox="0 0 {} {}" aria-label="{}" '
        'xmlns="http://www.w3.org/2000/svg"><title>{}</title><desc>{}</desc><defs>{}</defs>{}</svg>',
        _WIDTH, height, picture.title, picture.title, picture.description,
        markers, SafeString("".join(parts)),
    )  # fmt: skip
