"""Reading which release answered: the EC Service's `build` as cfsim gives it and as the field has it."""

from testkit.demo import ACME_PROD_ZONE
from upgrades.cloudfoundry.apps import AppAnswer, ask, health_url
from upgrades.foundations import parse

FOUNDATION = {"slug": "w", "name": "W", "domains": ["run.aws-usw02-pr.ice.predix.io"], "api_url": "x",
              "client_id": "c", "secret_env": "S"}  # fmt: skip


def test_a_build_names_its_release_alone_or_after_a_prefix():
    assert AppAnswer(200, 5, "okinawa.130").runs("okinawa.130")
    assert AppAnswer(200, 5, "v1.kyushu.146").runs("kyushu.146")
    assert not AppAnswer(200, 5, "v1.kyushu.146").runs("shu.146")
    assert not AppAnswer(502, 5, "okinawa.130").runs("okinawa.130"), "an error answer names no release"
    assert AppAnswer(502, 5).failure == "502"
    assert AppAnswer(None, 2000, problem="timeout").failure == "timeout"


def test_asking_through_cfsims_router_reads_the_build(cfsim):

    (foundation,) = parse([FOUNDATION | {"router_url": cfsim.router_url}])
    url = health_url(foundation, f"{ACME_PROD_ZONE}.run.aws-usw02-pr.ice.predix.io")
    assert url.endswith("/v1/info/")
    answer = ask(foundation, url, timeout=5)
    assert answer.status == 200 and answer.build == "sendai.120" and answer.runs("sendai.120")
    unknown = ask(foundation, "https://nobody.run.aws-usw02-pr.ice.predix.io/v1/info/", timeout=5)
    assert unknown.status == 404 and unknown.failure == "404"
