"""Preflight: check a submitted service on its foundation and record the verdict on the service."""

from functools import partial

from django.template.defaultfilters import pluralize

from upgrades import actions
from upgrades.cloudfoundry import CFError, RateLimited, Transient
from upgrades.cloudfoundry.factory import client_for
from upgrades.engine.context import StepFailed, foundation_of
from upgrades.engine.inspect import inspect
from upgrades.engine.plan import Target, fingerprint, survey
from upgrades.models import Preflight, ServiceUpgrade
from upgrades.workflow import State


def check(service_id: int, run: int | None) -> None:
    """One check of chain `run`; a check of a run that is no longer current, or that already ended
    (passed or failed), does nothing. Its result is recorded only if no other check of the run
    recorded meanwhile (`attempt`)."""
    current = ServiceUpgrade.objects.filter(pk=service_id, state=State.SUBMITTED)
    service = (current.filter(preflight_run=run) if run is not None else current).first()
    if service is None or service.preflight in (Preflight.PASSED, Preflight.FAILED):
        return
    record = partial(
        actions.record_preflight,
        service_id=service_id,
        run=service.preflight_run,
        attempt=service.preflight_attempts,
    )
    try:
        foundation = foundation_of(service)
        cf = client_for(foundation)
        standing = inspect(cf, foundation, service.zone_id, service.domain)
        change_plan = survey(cf, Target(service, foundation, standing))
    except StepFailed as failure:
        record(outcome=Preflight.FAILED, message=str(failure))
    except (Transient, RateLimited):
        record(outcome=Preflight.RETRYING, message="CF unreachable, retrying.")
    except CFError as error:
        record(
            outcome=Preflight.FAILED,
            message=f"Cloud Foundry refused the check ({error.status} {error.title}).",
        )
    else:
        record(
            outcome=Preflight.PASSED,
            message=f"{standing.blue_app_name} serves the route with {standing.instances_running} "
            f"running instance{pluralize(standing.instances_running)}.",
            facts={
                **standing.as_facts(),
                "change_plan": change_plan,
                "plan_fingerprint": fingerprint(change_plan),
            },
        )
