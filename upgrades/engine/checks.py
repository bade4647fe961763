"""The automatic check after Step 1 of a back-to-back plan, before Step 2 starts on its own.

Nobody tests a back-to-back upgrade by hand, so the portal does: the temporary URL must answer, and
the new release must say it is the one answering (`build` on the foundation's health path). The
router may learn the temporary route a little late, so the check looks again until
`PROBE_CHECK_TIMEOUT`; then, instead of cutting over, the service stops at "awaiting verification"
with the reason, where people can test it, confirm it or roll it back.
"""

from django.conf import settings

from upgrades.cloudfoundry.apps import ask, health_url
from upgrades.engine.context import Context, Done, Hold, Outcome, Wait
from upgrades.workflow import Plan


def check_temporary_url(ctx: Context) -> Outcome:
    s = ctx.service
    if s.plan != Plan.BACK_TO_BACK or settings.PROBE_RATE <= 0:
        return Done()  # people test it themselves; or probing and checks are off
    url = health_url(ctx.foundation, f"{s.temp_host}.{s.domain}")
    release = s.request.release.name
    answer = ask(ctx.foundation, url, timeout=settings.PROBE_TIMEOUT)
    if answer.runs(release):
        return Done()
    if answer.failure:
        problem = f"answered {answer.failure}" if answer.status else f"did not answer ({answer.failure})"
    else:
        problem = f"answered with release “{answer.build or 'not named'}” instead of {release}"
    if ctx.elapsed() < settings.PROBE_CHECK_TIMEOUT:
        return Wait(f"checking the temporary URL: it {problem}", settings.ENGINE_POLL_SECONDS)
    return Hold(
        f"Step 1 done, but the automatic check failed: the temporary URL ({url}) {problem} "
        f"for {settings.PROBE_CHECK_TIMEOUT} s, so Step 2 did not start. Test it, then confirm or roll back."
    )
