"""`make run`: migrate, seed, then start cfsim, the SMTP catcher, web, a Celery worker, beat and the
prober (which probes each service's original URL through Step 2).

Embedded defaults (SQLite, a broker in files under var/broker/) unless DATABASE_URL / CELERY_BROKER_URL
are set.
Everything listens on 127.0.0.1. A process that dies is started again (the Supervisor below); cfsim
keeps its foundation in var/cfsim-state.json across restarts (CFSIM_RESET=1: start it from its seed).
Ctrl-C stops every process this script started.
"""

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from ecportal import metrics_dir  # noqa: E402
from ecportal.embedded import demo_secrets, demo_sign_in  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable
WEB_PORT = int(os.environ.get("WEB_PORT", "8000"))
CFSIM_PORT = int(os.environ.get("CFSIM_PORT", "9000"))
CFSIM_ROUTER_PORT = int(os.environ.get("CFSIM_ROUTER_PORT", "9080"))
SMTP_PORT = int(os.environ.get("SMTP_PORT", "1025"))
DEMO_PASSWORD = os.environ.get("DEMO_PASSWORD", "ecportal-demo")
# Under the var directory: the simulated foundation, kept across restarts so it agrees with the database.
CFSIM_STATE = "cfsim-state.json"


def environment() -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("SITE_URL", f"http://127.0.0.1:{WEB_PORT}")
    env.setdefault("SMTP_PORT", str(SMTP_PORT))
    env.setdefault("CFSIM_PORT", str(CFSIM_PORT))
    env.setdefault("CFSIM_ROUTER_PORT", str(CFSIM_ROUTER_PORT))
    for name, secret in demo_secrets().items():
        env.setdefault(name, secret)
    # "Sign in with UAA": cfsim's UAA, with the portal's client from cfsim's seed.
    for name, value in demo_sign_in(f"http://127.0.0.1:{CFSIM_PORT}").items():
        env.setdefault(name, value)
    env.setdefault("PYTHONUNBUFFERED", "1")
    return env


def manage(env, *args: str) -> None:
    subprocess.run([PY, "manage.py", *args], cwd=ROOT, env=env, check=True)


def wait_until_answers(url: str, process: subprocess.Popen, seconds: float = 30) -> bool:
    """True once `url` answers; False after `seconds` or as soon as `process` has exited."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and process.poll() is None:
        try:
            with urllib.request.urlopen(url, timeout=2):
                return True
        except OSError:
            time.sleep(0.2)
    return False


def _how_it_ended(code: int) -> str:
    if code < 0:
        try:
            return f"was killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"was killed by signal {-code}"
    return f"exited with code {code}"


class Supervisor:
    """Keeps named child processes running.

    A child that dies is started again after a pause that doubles with each death within `window`
    seconds (from `first_pause` up to `max_pause`); the one that dies for the `max_deaths`-th time
    within `window` makes `run()` give up, so the caller stops everything. Every death is logged with
    how the process ended.

    Each child runs in its own session, so that what it starts itself (gunicorn's and Celery's
    worker processes) is signalled with it, and so that Ctrl-C in the terminal reaches this script
    alone, which then stops the children itself (`stop()`).
    """

    def __init__(
        self,
        *,
        cwd: Path,
        env: dict[str, str],
        first_pause: float = 0.5,
        max_pause: float = 8.0,
        max_deaths: int = 5,
        window: float = 60.0,
        log=None,
    ) -> None:
        self.cwd, self.env = cwd, env
        self.first_pause, self.max_pause = first_pause, max_pause
        self.max_deaths, self.window = max_deaths, window
        self.log = log or (lambda line: print(line, file=sys.stderr, flush=True))
        self.commands: dict[str, list[str]] = {}
        self.processes: dict[str, subprocess.Popen] = {}
        self.deaths: dict[str, list[float]] = {}  # name -> monotonic times of its deaths within `window`
        self.restart_at: dict[str, float] = {}  # name -> when a dead child starts again

    def start(self, name: str, command: list[str]) -> subprocess.Popen:
        self.commands[name] = command
        self.processes[name] = subprocess.Popen(command, cwd=self.cwd, env=self.env, start_new_session=True)
        return self.processes[name]

    def check(self) -> bool:
        """One look at every child: note the dead, start again those whose pause is over.
        False as soon as one has died `max_deaths` times within `window`."""
        now = time.monotonic()
        for name, process in list(self.processes.items()):
            if name in self.restart_at:
                if now >= self.restart_at[name]:
                    del self.restart_at[name]
                    self.start(name, self.commands[name])
                continue
            if not _has_exited(process):
                continue
            _signal_group(process, signal.SIGTERM)  # whatever it started goes with it
            code = process.wait()
            deaths = [t for t in self.deaths.get(name, []) if now - t < self.window] + [now]
            self.deaths[name] = deaths
            if len(deaths) >= self.max_deaths:
                self.log(
                    f"{name} {_how_it_ended(code)}; it died {len(deaths)} times within {self.window:g} s: "
                    "giving up, stopping everything."
                )
                return False
            pause = min(self.first_pause * 2 ** (len(deaths) - 1), self.max_pause)
            self.restart_at[name] = now + pause
            self.log(f"{name} {_how_it_ended(code)}; restarting it in {pause:g} s.")
        return True

    def run(self, interval: float = 0.2) -> int:
        """Check every `interval` seconds until a child keeps dying; then 1 (the caller stops the rest)."""
        while self.check():
            time.sleep(interval)
        return 1

    def stop(self, timeout: float = 10) -> None:
        """Stop every child and what it started: SIGTERM, then SIGKILL for whatever is left after
        `timeout` seconds."""
        self.restart_at.clear()
        unreaped = [process for process in self.processes.values() if process.returncode is None]
        for process in unreaped:
            _signal_group(process, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for process in unreaped:
            while not _has_exited(process) and time.monotonic() < deadline:
                time.sleep(0.05)
            # The leader if it is still there, and its workers if they outlive it.
            _signal_group(process, signal.SIGKILL)
            process.wait()


def _has_exited(process: subprocess.Popen) -> bool:
    """Whether `process` has ended, without reaping it: until it is reaped, its process group ID
    cannot be taken by another process, so signalling that group reaches only what it started."""
    if process.returncode is not None:
        return True
    if not hasattr(os, "waitid"):  # macOS before Python 3.13: reap, and signal the group right after
        return process.poll() is not None
    return os.waitid(os.P_PID, process.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None


def _signal_group(process: subprocess.Popen, signum: int) -> None:
    """Signal the process group led by `process` (it runs in its own session): it and its children.
    Call only while `process` is unreaped."""
    try:
        os.killpg(process.pid, signum)
    except ProcessLookupError:
        pass  # the group is empty already


def seeded_services() -> list[str]:
    """The demo service URLs, read from cfsim's state snapshot."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{CFSIM_PORT}/_cfsim/state", timeout=5) as reply:
            state = json.load(reply)
    except (OSError, ValueError):
        return []
    return sorted(f"https://{route['url']}" for route in state.get("routes", []))


def commands(var_dir: Path) -> dict[str, list[str]]:
    """What `make run` starts, in order, by name."""
    return {
        "cfsim": [
            PY, "-m", "cfsim", "--port", str(CFSIM_PORT), "--router-port", str(CFSIM_ROUTER_PORT),
            "--state", str(var_dir / CFSIM_STATE),
        ],
        "smtp": [PY, "-m", "ecportal.mailcatcher", "--port", str(SMTP_PORT), "--dir", str(var_dir / "mail")],
        "web": [
            PY, "-m", "gunicorn", "ecportal.wsgi", "--bind", f"127.0.0.1:{WEB_PORT}",
            "--workers", "2", "--threads", "4",
            "--access-logfile", "-", "--logger-class", "ecportal.logredact.AccessLogger",
            # Not gunicorn's default control socket in the home directory, which every checkout shares.
            "--no-control-socket",
        ],
        "worker": [
            PY, "-m", "celery", "-A", "ecportal", "worker", "--loglevel", "INFO",
        ],
        "beat": [
            PY, "-m", "celery", "-A", "ecportal", "beat",
            "--loglevel", "INFO", "--schedule", str(var_dir / "celerybeat-schedule"),
        ],
        "prober": [PY, "manage.py", "run_prober"],
    }  # fmt: skip


def _interrupt(*_) -> None:
    raise KeyboardInterrupt


def main() -> int:
    env = environment()
    var_dir = Path(env.get("ECPORTAL_VAR_DIR") or ROOT / "var")
    manage(env, "migrate", "--no-input", "-v", "0")
    if not env.get("DATABASE_URL"):
        manage(env, "seed_demo")
    (var_dir / "mail").mkdir(parents=True, exist_ok=True)
    # Web, worker and beat share one metrics directory under the var directory: it starts empty.
    env["PROMETHEUS_MULTIPROC_DIR"] = str(var_dir / "metrics")
    metrics_dir.wipe(env["PROMETHEUS_MULTIPROC_DIR"])
    if env.get("CFSIM_RESET", "") not in ("", "0"):
        (var_dir / CFSIM_STATE).unlink(missing_ok=True)
        print(f"CFSIM_RESET: cfsim starts from its seed ({var_dir / CFSIM_STATE} removed).", flush=True)
    supervisor = Supervisor(cwd=ROOT, env=env)
    # Also when started with SIGINT ignored (in the background of a script), and SIGTERM alike.
    signal.signal(signal.SIGINT, _interrupt)
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        for name, command in commands(var_dir).items():
            process = supervisor.start(name, command)
            if name == "cfsim" and not wait_until_answers(f"http://127.0.0.1:{CFSIM_PORT}/", process):
                print("cfsim did not start; see its output above.", file=sys.stderr)
                return 1
        if not wait_until_answers(
            f"http://127.0.0.1:{WEB_PORT}/accounts/login/", supervisor.processes["web"]
        ):
            print("The web server did not start; see its output above.", file=sys.stderr)
            return 1
        print_banner(env)
        return supervisor.run()
    except KeyboardInterrupt:
        return 0
    finally:
        # A second Ctrl-C must not cut the stopping short and leave children behind.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        print("Stopping everything.", file=sys.stderr, flush=True)
        supervisor.stop()


def print_banner(env) -> None:
    lines = [
        "",
        f"ecportal is running at {env['SITE_URL']}/",
        f"  API docs:      {env['SITE_URL']}/api/docs/",
        f"  cfsim (CF v3): http://127.0.0.1:{CFSIM_PORT}/   router: http://127.0.0.1:{CFSIM_ROUTER_PORT}/",
        f"  mail:          SMTP 127.0.0.1:{SMTP_PORT}, messages in var/mail/",
        f"  logins:        alice, bob (EC users), olga (EC team), admin; password: {DEMO_PASSWORD}",
        "  Sign in with UAA (cfsim): alice (ACME's services), bob (Globex's), olga (EC team through the",
        "                 group ecportal.operate); password: ecportal-demo",
        "  demo services:",
        *[f"    {url}" for url in seeded_services()],
        "Press Ctrl-C to stop everything.",
        "",
    ]
    print("\n".join(lines), flush=True)


if __name__ == "__main__":
    raise SystemExit(main())
