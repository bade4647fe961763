"""The portal as people use it: in a browser, while a real worker upgrades services on cfsim."""

import re

import pytest
from playwright.sync_api import expect

from testkit import demo
from tests.browser.conftest import AXE, HOME, LAPTOP
from tests.engine.conftest import (
    ACME_NONPROD,
    ACME_PROD,
    INITECH,
    approve_and_trigger,
    filed_and_checked,
    wait_state,
)
from upgrades import actions
from upgrades.models import ServiceUpgrade, UpgradeRequest
from upgrades.workflow import Action, State

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

ACME_ZONE = demo.ACME_PROD_ZONE
# People know a service by its name (its CF service instance's) once preflight learnt it.
ACME, NONPROD = demo.ACME_PROD_SERVICE, demo.ACME_NONPROD_SERVICE
# alice's page polls every 10 s while waiting for someone, 2 s while a step runs.
LIVE = 30_000


def card(page, heading: str):
    """A service's card by its heading: its name, or its zone ID until preflight learnt the name."""
    return page.locator(
        "article.service", has=page.locator("h3", has_text=re.compile(rf"^\s*{re.escape(heading)}\s*$"))
    )


def test_alice_files_a_request_and_fixes_a_bad_url(engine, people):
    alice = people("alice")
    page = alice.page
    page.get_by_role("link", name="New upgrade request").first.click()
    expect(page.get_by_role("heading", name="New upgrade request")).to_be_visible()
    page.get_by_label("Service URLs").fill("https://not-a-zone.example.com")
    page.get_by_role("button", name="Submit request").click()
    field = page.locator(".field", has=page.get_by_label("Service URLs"))
    expect(field.locator(".errorlist")).to_be_visible()
    expect(field).to_have_class(re.compile("invalid"))
    alice.screenshot("new-request-error")
    page.get_by_label("Service URLs").fill(f"{ACME_PROD}\n{ACME_NONPROD}")
    page.get_by_label("Test after Step 1").check()
    page.get_by_role("button", name="Submit request").click()
    page.wait_for_url(re.compile(r"/requests/\d+/$"))
    expect(page.locator("#request-status")).to_have_text("Submitted")
    expect(page.locator("article.service")).to_have_count(2)
    request = UpgradeRequest.objects.get()
    assert request.plan == "test_first" and request.services.count() == 2
    # Preflight runs on the worker against cfsim; the open page shows it pass without a reload, and
    # the service by the name preflight learnt, on its foundation, its zone ID after.
    expect(card(page, ACME)).to_contain_text("Preflight: Passed", timeout=LIVE)
    expect(card(page, ACME).locator(".where")).to_contain_text(f"Predix West / Basic · zone ID {ACME_ZONE}")


def test_approve_start_verify_and_complete_while_alice_watches(engine, sim, people, cast):
    request = filed_and_checked(cast["alice"], [ACME_PROD, ACME_NONPROD])
    sim.configure(staging_delay=3)  # long enough to watch the droplet being built
    path = f"/requests/{request.pk}/"
    alice, olga = people("alice"), people("olga")
    alice.page.goto(path)
    olga.page.goto(path)
    olga.screenshot("request-submitted-ec-team")
    olga.page.get_by_role("button", name="Approve", exact=True).click()
    expect(olga.page.locator("#request-status")).to_have_text("Approved")
    for name in (ACME, NONPROD):
        card(olga.page, name).get_by_role("button", name="Start Step 1").click()
        expect(card(olga.page, name).locator(".badge")).not_to_have_text("Approved")
    # While a step runs the page refreshes every 2 s: the sub-step moves on without a reload.
    progress = card(olga.page, ACME).locator(".progress-words")
    expect(progress).to_have_text(re.compile(r"Step 1 · building the droplet · 4 of 12"), timeout=LIVE)
    olga.screenshot("request-step1-running")

    # alice did not reload: her page moves by itself.
    page = alice.page
    expect(page.locator("#request-status")).to_have_text("Awaiting verification", timeout=LIVE)
    acme = card(page, ACME)
    expect(acme.locator(".badge")).to_have_text("Awaiting verification", timeout=LIVE)
    expect(acme.locator("svg.topology")).to_have_attribute("aria-label", re.compile("Stage 2 of 5"))
    temporary = ServiceUpgrade.objects.get(zone_id=ACME_ZONE).temporary_url
    assert temporary.startswith(f"https://{ACME_ZONE}-upgrade-")
    expect(acme.get_by_role("link", name=temporary)).to_be_visible()
    expect(acme.locator(".gateway")).to_contain_text(f"-sst {temporary}")
    expect(card(page, NONPROD).locator(".badge")).to_have_text("Awaiting verification", timeout=LIVE)
    alice.screenshot("request-awaiting-verification")

    for name in (ACME, NONPROD):
        card(page, name).get_by_role("button", name="It works").click()
        expect(card(page, name).locator(".badge")).to_have_text("Verified")

    olga.page.reload()
    for name in (ACME, NONPROD):
        card(olga.page, name).get_by_role("button", name="Start Step 2").click()
    for person in (olga, alice):
        expect(person.page.locator("#request-status")).to_have_text("Completed", timeout=LIVE)
        for name in (ACME, NONPROD):
            picture = card(person.page, name).locator("svg.topology")
            expect(picture).to_have_attribute(
                "aria-label", "Stage 5 of 5: one app, one route, on the new release"
            )
    expect(alice.page.locator("#live")).not_to_have_attribute("hx-trigger", re.compile("."))
    olga.screenshot("request-completed")


def test_a_problem_report_rolls_back_to_the_starting_picture(engine, people, cast):
    request = filed_and_checked(cast["alice"], [ACME_PROD])
    approve_and_trigger(request, cast["olga"])
    wait_state(request.services.get().pk, State.AWAITING_VERIFICATION)
    alice = people("alice")
    page = alice.page
    page.goto(f"/requests/{request.pk}/")
    acme = card(page, ACME)
    acme.locator("summary", has_text="Report a problem").click()
    reason = acme.get_by_label("What does not work?")
    reason.fill("Our gateway gets 502 from the temporary URL.")
    # The page refreshes itself every 10 s, but not while someone is writing in it.
    polls = []
    page.on("request", lambda r: polls.append(r.url) if r.url.endswith("/live/") else None)
    page.wait_for_timeout(10_500)
    assert polls == [], "the live part refreshed while alice was typing"
    expect(reason).to_have_value("Our gateway gets 502 from the temporary URL.")
    acme.get_by_role("button", name="Report a problem", exact=True).click()
    expect(page.locator(".msg.success")).to_contain_text("problem reported")
    expect(page.locator("#request-status")).to_have_text("Rolled back", timeout=LIVE)
    picture = card(page, ACME).locator("svg.topology")
    expect(picture).to_have_attribute("aria-label", "Stage 1 of 5: one app, one route")
    expect(card(page, ACME).locator("figcaption")).not_to_contain_text("temporary route")
    expect(page.locator(".timeline")).to_contain_text("Our gateway gets 502 from the temporary URL.")
    alice.screenshot("request-rolled-back")


def _tab_to(page, selector: str, limit: int = 60) -> None:
    """Press Tab until the element matching `selector` has the focus, as a keyboard user would."""
    for _ in range(limit):
        if page.evaluate("s => document.activeElement && document.activeElement.matches(s)", selector):
            outline = page.evaluate("() => getComputedStyle(document.activeElement).outlineStyle")
            assert outline != "none", f"focus on {selector} is not visible"
            return
        page.keyboard.press("Tab")
    raise AssertionError(f"Tab never reached {selector}")


def test_keyboard_only_filing(engine, people):
    alice = people("alice", log_in=False)
    page = alice.page
    page.goto("/accounts/login/")
    page.keyboard.type("alice")  # the username field has the focus on arrival
    page.keyboard.press("Tab")
    page.keyboard.type("correct-horse-battery")
    page.keyboard.press("Enter")
    page.wait_for_url(HOME)
    _tab_to(page, "nav a[href='/requests/new/']")
    page.keyboard.press("Enter")
    page.wait_for_url("**/requests/new/")
    _tab_to(page, "#id_service_urls")
    page.keyboard.type(ACME_PROD)
    _tab_to(page, "input[name=plan]")
    page.keyboard.press("ArrowDown")  # from the preselected test-first plan to back to back
    page.keyboard.press("ArrowUp")
    _tab_to(page, "button[type=submit].primary")
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"/requests/\d+/$"))
    expect(page.locator("#request-status")).to_have_text("Submitted")
    assert UpgradeRequest.objects.get().plan == "test_first"


def _axe(browser, live_server, storage_state, path: str) -> list[str]:
    """Serious and critical axe-core violations of one page, scanned in a context that bypasses the
    CSP only so that the scanner itself can be injected."""
    context = browser.new_context(
        base_url=live_server.url, viewport=LAPTOP, bypass_csp=True, storage_state=storage_state
    )
    try:
        page = context.new_page()
        page.goto(path)
        page.add_script_tag(path=str(AXE))
        result = page.evaluate("() => axe.run(document, {resultTypes: ['violations']})")
    finally:
        context.close()
    return [
        f"{path}: {v['id']} ({v['impact']}): {v['help']} — {[n['target'] for n in v['nodes']][:3]}"
        for v in result["violations"]
        if v["impact"] in ("serious", "critical")
    ]


def test_accessibility_scan_and_screenshots(engine, people, cast, browser, live_server):
    assert AXE.exists(), "axe-core missing: run scripts/ensure-browser.sh (make test does)"
    # Something in each list: one awaiting approval, one step to start, one awaiting verification.
    filed_and_checked(cast["bob"], [INITECH])
    approved = filed_and_checked(cast["alice"], [ACME_NONPROD])
    actions.apply_request_action(request=approved, action=Action.APPROVE, actor=cast["olga"])
    request = filed_and_checked(cast["alice"], [ACME_PROD])
    approve_and_trigger(request, cast["olga"])
    wait_state(request.services.get().pk, State.AWAITING_VERIFICATION)
    olga, alice = people("olga"), people("alice")
    pages = {
        olga: ["/", "/queue/", f"/requests/{request.pk}/", "/how-upgrades-work/"],
        alice: ["/", "/requests/new/", "/requests/", f"/requests/{request.pk}/"],
    }
    violations = []
    for person, paths in pages.items():
        state = person.context.storage_state()
        for path in paths:
            violations += _axe(browser, live_server, state, path)
    assert not violations, "\n".join(violations)

    olga.page.goto("/")
    olga.screenshot("home-ec-team")
    olga.page.goto("/queue/")
    olga.screenshot("queue")
    olga.page.goto("/how-upgrades-work/")
    olga.screenshot("how-upgrades-work")
    alice.page.goto("/")
    alice.screenshot("home-ec-user")
    phone = people("alice", viewport={"width": 390, "height": 844})
    phone.page.goto(f"/requests/{request.pk}/")
    expect(phone.page.locator("#request-status")).to_have_text("Awaiting verification")
    width = phone.page.evaluate("() => document.documentElement.scrollWidth")
    assert width <= 390, f"the request page scrolls sideways on a phone ({width} px)"
    phone.screenshot("request-phone")


def test_prod_back_to_back_starts_after_nonprod_is_confirmed(engine, people, cast):
    nonprod_zone = demo.ACME_NONPROD_URL.removeprefix("https://").split(".")[0]
    alice, olga = people("alice"), people("olga")
    page = alice.page
    page.goto("/requests/new/")
    page.get_by_label("Service URLs").fill(f"{ACME_NONPROD}\n{ACME_PROD}")
    expect(page.get_by_label("Test after Step 1")).to_be_checked()  # the cautious default, for non-prod
    # A row per service appears as the list is typed: prod runs back to back once non-prod works.
    page.get_by_label(f"Plan for {ACME_ZONE}").select_option(label="Steps 1 and 2 back to back")
    page.get_by_label(f"Start {ACME_ZONE} only after this one is confirmed").select_option(nonprod_zone)
    alice.screenshot("new-request-plans")
    page.get_by_role("button", name="Submit request").click()
    page.wait_for_url(re.compile(r"/requests/\d+/$"))
    request = UpgradeRequest.objects.get()
    expect(card(page, ACME)).to_contain_text("Plan: Steps 1 and 2 back to back", timeout=LIVE)
    expect(card(page, ACME)).to_contain_text(f"Starts after {NONPROD} is confirmed.", timeout=LIVE)
    expect(card(page, NONPROD)).to_contain_text("Plan: Test after Step 1")
    expect(card(page, NONPROD)).to_contain_text("Preflight: Passed", timeout=LIVE)
    expect(card(page, ACME)).to_contain_text("Preflight: Passed", timeout=LIVE)

    olga.page.goto(f"/requests/{request.pk}/")
    olga.page.get_by_role("button", name="Approve", exact=True).click()
    expect(olga.page.locator("#request-status")).to_have_text("Approved")
    expect(card(olga.page, ACME).get_by_role("button", name="Start Step 1")).to_have_count(0)
    expect(olga.page.get_by_role("button", name="Start Step 1 for all")).to_have_count(0)
    card(olga.page, NONPROD).get_by_role("button", name="Start Step 1").click()

    expect(card(page, NONPROD).locator(".badge")).to_have_text("Awaiting verification", timeout=LIVE)
    expect(card(page, ACME).locator(".badge")).to_have_text("Approved")
    card(page, NONPROD).get_by_role("button", name="It works").click()
    expect(card(page, NONPROD).locator(".badge")).to_have_text("Verified")
    expect(page.locator(".timeline")).to_contain_text(f"{ACME} may start Step 1 now: {NONPROD} is confirmed.")

    # olga's page moves by itself: prod's Start Step 1 appears, and one press takes it to Completed.
    prod_start = card(olga.page, ACME).get_by_role("button", name="Start Step 1")
    expect(prod_start).to_be_visible(timeout=LIVE)
    expect(card(olga.page, ACME)).not_to_contain_text("Starts after")
    prod_start.click()
    expect(card(olga.page, ACME).locator(".badge")).to_have_text("Completed", timeout=LIVE)
    prod = ServiceUpgrade.objects.get(zone_id=ACME_ZONE)
    assert list(prod.events.filter(kind="transition").values_list("to_state", flat=True)) == [
        "approved",
        "step1_running",
        "step2_running",
        "completed",
    ], "one trigger: Step 2 followed by itself"
    assert ServiceUpgrade.objects.get(zone_id=nonprod_zone).state == State.VERIFIED
