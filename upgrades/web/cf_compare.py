"""After a failure: what the failed sub-step expected of CF beside what CF showed (`cf_observed`), as
rows for the service card. Expectations are what the sub-step needed to find to do its work."""

from dataclasses import dataclass

from upgrades.models import ServiceUpgrade
from upgrades.workflow import FAILED_STATES

OLD, NEW, BOTH = ["old"], ["new"], ["new", "old"]
_STEP2_ENDING = {"serving": NEW, "new": "STARTED", "temporary_route": "absent"}
# Sub-step -> what it expected: who serves the original route, the old and new apps' states, and the
# temporary route. A missing key means "anything" (it is shown as "—").
EXPECTED = {
    "map_original": {"serving": OLD, "old": "STARTED", "new": "STARTED"},
    "unmap_blue": {"serving": BOTH, "old": "STARTED", "new": "STARTED"},
    "delete_temp_route": {"serving": NEW, "new": "STARTED"},
    "stop_blue": _STEP2_ENDING,
    "delete_blue": {**_STEP2_ENDING, "old": "STOPPED"},
    "rename_green": {**_STEP2_ENDING, "old": "STOPPED"},
    "rb_start_blue": {"old": "STARTED"},
    "rb_map_blue": {"old": "STARTED"},
    "rb_unmap_green": {"serving": BOTH, "old": "STARTED"},
    "rb_delete_temp_route": {"serving": OLD, "old": "STARTED"},
    "rb_delete_green": {"serving": OLD, "old": "STARTED", "temporary_route": "absent"},
    "rb_rename_blue": {"serving": OLD, "old": "STARTED", "new": "absent", "temporary_route": "absent"},
}
STEP1 = {"serving": OLD, "old": "STARTED"}
ROWS = (
    ("serving", "Original route serves"),
    ("old", "Old app"),
    ("new", "New app"),
    ("temporary_route", "Temporary route"),
)


@dataclass(frozen=True)
class Row:
    label: str
    expected: str
    now: str
    differs: bool


def _words(value) -> str:
    if value is None:
        return "—"
    if isinstance(value, list):
        return " and ".join(f"the {v} app" if v in ("old", "new") else v for v in value) or "nothing"
    return value


def rows(service: ServiceUpgrade) -> list[Row]:
    """The comparison for a failed service whose CF picture was read, else []."""
    seen = service.cf_observed
    if service.state not in FAILED_STATES or not seen or "error" in seen:
        return []
    expected = EXPECTED.get(service.step, STEP1)
    found = []
    for key, label in ROWS:
        want, now = expected.get(key), seen.get(key)
        differs = want is not None and now != want
        found.append(Row(label, _words(want), _words(now), differs))
    return found
