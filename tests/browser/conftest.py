"""Browser journeys: Playwright for Python driving Debian's chromium against a live server, with the
real worker and cfsim behind it (the engine fixtures), so upgrades really run while the pages watch.

`scripts/ensure-browser.sh` installs chromium and axe-core when missing; never a downloaded browser.
"""

import re
from pathlib import Path

import pytest

from ecportal.embedded import demo_foundations, demo_secrets
from tests.conftest import PASSWORD
from tests.engine.conftest import engine, sim, stack  # noqa: F401 (fixtures)
from tests.notifications.conftest import smtp  # noqa: F401 (fixture: a real SMTP listener)

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
REPO_ROOT = Path(__file__).resolve().parents[2]
AXE = REPO_ROOT / "var" / "node" / "node_modules" / "axe-core" / "axe.min.js"
SCREENSHOTS = REPO_ROOT / "docs" / "screenshots"
LAPTOP = {"width": 1280, "height": 900}
HOME = re.compile(r"^http://[^/]+/$")


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.fail("no /usr/bin/chromium: run scripts/ensure-browser.sh (make test does)")
    from playwright.sync_api import sync_playwright

    with pytest.MonkeyPatch.context() as patch:
        # Playwright's sync API runs an event loop in this thread; the ORM calls the tests and their
        # fixtures make between page actions are still synchronous and safe. Only while the browser
        # runs: `check --deploy` (tests/test_setup.py) refuses this variable.
        patch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        with sync_playwright() as playwright:
            running = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            yield running
            running.close()


class Person:
    """One person at one browser window: their own context (cookies), one page, and any CSP reports."""

    def __init__(self, browser, base_url: str, username: str, **context_options):
        options = {"viewport": LAPTOP, **context_options}
        self.context = browser.new_context(base_url=base_url, **options)
        self.context.set_default_timeout(15_000)
        self.page = self.context.new_page()
        self.username = username
        self.problems: list[str] = []
        self.page.on("console", self._console)
        self.page.on("pageerror", lambda error: self.problems.append(f"page error: {error}"))

    def _console(self, message) -> None:
        # A refused inline style or script shows up here: the pages must work under the strict CSP.
        if message.type == "error" and not re.search(r"status of 40[134]", message.text):
            self.problems.append(message.text)

    def log_in(self) -> "Person":
        page = self.page
        page.goto("/accounts/login/")
        page.get_by_label("Username").fill(self.username)
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Log in").click()
        page.wait_for_url(HOME)
        return self

    def screenshot(self, name: str, *, full_page: bool = True) -> None:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=full_page)


@pytest.fixture
def people(browser, live_server):
    """`people("alice")` opens a logged-in window for alice; every window is checked for CSP errors."""
    opened: list[Person] = []

    def open_for(username: str, *, log_in: bool = True, **options) -> Person:
        person = Person(browser, live_server.url, username, **options)
        opened.append(person)
        return person.log_in() if log_in else person

    yield open_for
    problems = [f"{p.username}: {text}" for p in opened for text in p.problems]
    for person in opened:
        person.context.close()
    assert not problems, "console errors (CSP refusals?):\n" + "\n".join(problems)


@pytest.fixture
def west_on_sendai(sim, releases, monkeypatch) -> int:  # noqa: F811 (the imported fixture)
    """The demo cfsim's fleet read into the inventory; how many of its services run sendai.120 on
    Predix West (the Fleet chart's bar the journeys click)."""
    from upgrades import foundations, inventory
    from upgrades.models import FleetService

    sim.reset()
    monkeypatch.setattr(foundations, "_configured", lambda: foundations.parse(demo_foundations(sim.api_url)))
    for name, value in demo_secrets().items():
        monkeypatch.setenv(name, value)
    inventory.sync_all()
    west = FleetService.objects.filter(foundation="predix-west", release="sendai.120").count()
    assert west >= 2
    return west
