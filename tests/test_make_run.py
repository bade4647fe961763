"""`make run` (scripts/run.py): its supervisor restarts a process that dies and stops everything it
started, grandchildren included; the cfsim it starts keeps its foundation across restarts; its web
server shares nothing in the home directory with other checkouts and keeps contact-link tokens out of
its access log."""

from __future__ import annotations

import importlib.util
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from upgrades.cloudfoundry import CFClient, forget_tokens

ROOT = Path(__file__).resolve().parent.parent
_spec = importlib.util.spec_from_file_location("make_run", ROOT / "scripts" / "run.py")
run = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(run)

SLEEPER = [sys.executable, "-c", "import time; time.sleep(60)"]
# Like a Celery worker or gunicorn: a master with a worker process of its own.
MASTER = [
    sys.executable,
    "-c",
    "import subprocess, sys, time; subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)']); "
    "time.sleep(60)",
]
FAILING = [sys.executable, "-c", "raise SystemExit(3)"]


def group_is_gone(pgid: int, seconds: float = 5) -> bool:
    deadline = time.monotonic() + seconds
    while True:
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.05)


def group_size(pgid: int) -> int:
    out = subprocess.run(["ps", "-o", "pid=", "-g", str(pgid)], capture_output=True, text=True).stdout
    return len(out.split())


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_for(condition, seconds: float = 5) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "not within the deadline"
        time.sleep(0.02)


@pytest.fixture
def log() -> list[str]:
    return []


@pytest.fixture
def supervisor(log):
    supervisor = run.Supervisor(
        cwd=ROOT, env=dict(os.environ), first_pause=0.05, max_pause=0.2, log=log.append
    )
    yield supervisor
    supervisor.stop(timeout=5)


def test_a_killed_process_is_started_again_and_the_others_keep_running(supervisor, log):
    worker = supervisor.start("worker", MASTER)
    web = supervisor.start("web", SLEEPER)
    wait_for(lambda: group_size(worker.pid) == 2)  # the master and its worker process
    os.kill(worker.pid, signal.SIGKILL)

    wait_for(lambda: supervisor.check() and supervisor.processes["worker"] is not worker)
    again = supervisor.processes["worker"]
    assert log == ["worker was killed by SIGKILL; restarting it in 0.05 s."]
    assert again.poll() is None and supervisor.processes["web"] is web and web.poll() is None
    assert group_is_gone(worker.pid), "the dead master's worker process was stopped with it"

    os.kill(again.pid, signal.SIGKILL)  # a second death soon after: a longer pause
    wait_for(lambda: supervisor.check() and supervisor.processes["worker"] is not again)
    assert log[-1] == "worker was killed by SIGKILL; restarting it in 0.1 s."

    latest = supervisor.processes["worker"]
    wait_for(lambda: group_size(latest.pid) == 2)
    supervisor.stop(timeout=5)
    assert all(process.returncode is not None for process in supervisor.processes.values())
    assert group_is_gone(latest.pid) and group_is_gone(web.pid)


def test_a_process_that_keeps_dying_makes_it_give_up(supervisor, log):
    supervisor.start("beat", FAILING)
    web = supervisor.start("web", SLEEPER)
    deadline = time.monotonic() + 10
    while supervisor.check():
        assert time.monotonic() < deadline, "still restarting"
        time.sleep(0.02)
    assert log[:4] == [
        f"beat exited with code 3; restarting it in {pause:g} s." for pause in (0.05, 0.1, 0.2, 0.2)
    ]
    assert log[4:] == [
        "beat exited with code 3; it died 5 times within 60 s: giving up, stopping everything."
    ]
    assert web.poll() is None  # the caller stops the rest
    supervisor.stop(timeout=5)
    assert web.returncode is not None


def test_the_cfsim_it_restarts_still_holds_what_the_portal_created(supervisor, log, tmp_path, monkeypatch):
    monkeypatch.setattr(run, "CFSIM_PORT", free_port())
    monkeypatch.setattr(run, "CFSIM_ROUTER_PORT", free_port())
    api_url = f"http://127.0.0.1:{run.CFSIM_PORT}"
    cfsim = supervisor.start("cfsim", run.commands(tmp_path)["cfsim"])
    assert run.wait_until_answers(f"{api_url}/", cfsim)
    forget_tokens()
    client = CFClient(api_url, client_id="ecportal", client_secret="ecportal-sim-secret", timeout=(2, 5))
    green = client.create_app("green-of-a-completed-upgrade", "5ace0000-0000-4000-8000-000000000001")

    cfsim.terminate()  # (saving after a SIGKILL: tests/cf/test_cfsim_state.py)
    wait_for(lambda: supervisor.check() and supervisor.processes["cfsim"] is not cfsim)
    assert log == ["cfsim exited with code 0; restarting it in 0.05 s."]
    assert run.wait_until_answers(f"{api_url}/", supervisor.processes["cfsim"])
    assert client.get_app(green.guid).name == "green-of-a-completed-upgrade"


def test_the_web_server_has_no_control_socket_and_keeps_tokens_out_of_its_access_log(tmp_path, monkeypatch):
    monkeypatch.setattr(run, "WEB_PORT", free_port())
    home, runtime = tmp_path / "home", tmp_path / "run"
    home.mkdir(), runtime.mkdir()
    env = dict(os.environ, HOME=str(home), XDG_RUNTIME_DIR=str(runtime))
    output = tmp_path / "web.log"
    with output.open("wb") as sink:
        web = subprocess.Popen(
            run.commands(tmp_path)["web"], cwd=ROOT, env=env, stdout=sink, stderr=subprocess.STDOUT
        )
    try:
        assert run.wait_until_answers(f"http://127.0.0.1:{run.WEB_PORT}/accounts/login/", web), (
            output.read_text()
        )
        with pytest.raises(urllib.error.HTTPError):  # an unknown link: 404
            urllib.request.urlopen(f"http://127.0.0.1:{run.WEB_PORT}/c/a-contact-link-token/", timeout=10)
        # gunicorn >= 25 otherwise listens on $XDG_RUNTIME_DIR/gunicorn.ctl (or ~/.gunicorn/gunicorn.ctl)
        # while it runs, and removes it on the way out.
        assert [*home.iterdir(), *runtime.iterdir()] == []
    finally:
        web.terminate()
        web.wait(timeout=10)
    log = output.read_text()
    assert "GET /c/[redacted]/" in log and "a-contact-link-token" not in log
    # gunicorn.conf.py: each access-log line ends with the id the portal answered in X-Request-Id.
    assert re.search(r'"GET /c/\[redacted\]/ HTTP/1.1" 404 .* [0-9a-f]{32}$', log, re.MULTILINE), log


def test_ctrl_c_stops_everything_even_when_started_in_the_background(tmp_path):
    """A shell starts a background job with SIGINT ignored; `make run` must still stop on it."""
    script = f"""
import importlib.util, signal, sys
signal.signal(signal.SIGINT, signal.SIG_IGN)
spec = importlib.util.spec_from_file_location("make_run", {str(ROOT / "scripts" / "run.py")!r})
run = importlib.util.module_from_spec(spec)
spec.loader.exec_module(run)
run.manage = lambda env, *args: None
run.wait_until_answers = lambda url, process, seconds=30: True
run.print_banner = lambda env: print("ready", flush=True)
run.commands = lambda var_dir: {{"cfsim": {SLEEPER!r}, "web": {MASTER!r}}}
sys.exit(run.main())
"""
    env = dict(os.environ, ECPORTAL_VAR_DIR=str(tmp_path))
    make_run = subprocess.Popen([sys.executable, "-c", script], env=env, stdout=subprocess.PIPE, text=True)
    try:
        assert make_run.stdout.readline() == "ready\n"
        children = [int(pid) for pid in subprocess.run(
            ["ps", "-o", "pid=", "--ppid", str(make_run.pid)], capture_output=True, text=True
        ).stdout.split()]  # fmt: skip
        assert len(children) == 2
        wait_for(lambda: group_size(children[1]) == 2)  # "web" and its worker process
        make_run.send_signal(signal.SIGINT)
        assert make_run.wait(timeout=10) == 0
        assert all(group_is_gone(pgid) for pgid in children)
    finally:
        if make_run.poll() is None:
            make_run.terminate()
            make_run.wait(timeout=15)
        make_run.stdout.close()
