""" "What happens next" on the request and contact pages: per state and plan, never a temporary URL
to someone whose plan never gave them one."""

import pytest

from upgrades.models import Preflight, ServiceUpgrade
from upgrades.web.next_steps import what_happens_next
from upgrades.workflow import Plan, State

B2B, TEST = Plan.BACK_TO_BACK, Plan.TEST_FIRST


def words(state: State, plan: Plan = TEST, **fields) -> str:
    return what_happens_next(ServiceUpgrade(state=state, plan=plan, **fields))


@pytest.mark.parametrize("state", list(State))
def test_back_to_back_never_speaks_of_a_temporary_url_before_or_after(state):
    if state not in (State.AWAITING_VERIFICATION, State.VERIFIED):  # only reached by testing first
        assert "temporary" not in words(state, B2B)


@pytest.mark.parametrize(
    ("state", "plan", "fields", "expected"),
    [
        (State.SUBMITTED, TEST, {"preflight": Preflight.PENDING}, "The portal checks the service"),
        (State.SUBMITTED, TEST, {"preflight": Preflight.PASSED}, "The EC team reviews the request"),
        (State.APPROVED, B2B, {}, "Step 2 follows at once, with no test in between"),
        (State.AWAITING_VERIFICATION, TEST, {}, "Point a test gateway at the temporary URL"),
        (State.VERIFIED, TEST, {}, "waiting for the EC team to start Step 2"),
        (State.VERIFIED, TEST, {"start_step2_on_confirmation": True}, "Step 2 starts now"),
        (State.COMPLETED, TEST, {}, "back to the original URL"),
        (State.COMPLETED, B2B, {}, "gateways need nothing"),
        (State.ROLLED_BACK, TEST, {}, "Point any gateway you moved to the temporary URL back"),
        (State.CANCELLED, TEST, {}, "Nothing to do: the service was not upgraded"),
    ],
)
def test_the_words_say_who_acts_next_and_what_to_do(state, plan, fields, expected):
    assert expected in words(state, plan, **fields)


def test_a_failure_leaves_the_words_to_the_problem_box():
    assert words(State.STEP1_FAILED) == words(State.ROLLBACK_FAILED) == ""
