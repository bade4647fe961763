"""A worker runs tasks on threads: each thread has its own CF client, so the hooks one task sets (its
call log, its lease check) never see another task's calls."""

import threading

from upgrades.cloudfoundry.factory import client_for
from upgrades.foundations import Foundation

FOUNDATION = Foundation(
    slug="predix-west",
    name="Predix West",
    domains=("run.example.com",),
    api_url="https://api.example.com",
    client_id="ecportal",
    secret_env="CF_SECRET_UNUSED",
)


def in_thread(work):
    result = {}
    thread = threading.Thread(target=lambda: result.update(value=work()))
    thread.start()
    thread.join()
    return result["value"]


def test_a_thread_reuses_its_client_and_another_thread_has_its_own():
    here = client_for(FOUNDATION)
    assert client_for(FOUNDATION) is here
    there = in_thread(lambda: client_for(FOUNDATION))
    assert there is not here


def test_the_hooks_of_one_thread_s_task_stay_on_that_thread_s_client():
    mine: list = []
    client = client_for(FOUNDATION, on_call=mine.append)
    theirs: list = []
    other = in_thread(lambda: client_for(FOUNDATION, on_call=theirs.append))
    assert client.on_call == mine.append
    assert other.on_call == theirs.append
