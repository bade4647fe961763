"""`make run`: migrate, seed, then start cfsim, the SMTP catcher, web, a Celery worker and beat.

Embedded defaults (SQLite, a broker in files under var/broker/) unless DATABASE_URL / CELERY_BROKER_URL
are set.
Everything listens on 127.0.0.1. Ctrl-C stops every process this script started.
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
from ecportal.embedded import demo_secrets  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable
WEB_PORT = int(os.environ.get("WEB_PORT", "8000"))
CFSIM_PORT = int(os.environ.get("CFSIM_PORT", "9000"))
CFSIM_ROUTER_PORT = int(os.environ.get("CFSIM_ROUTER_PORT", "9080"))
SMTP_PORT = int(os.environ.get("SMTP_PORT", "1025"))
DEMO_PASSWORD = os.environ.get("DEMO_PASSWORD", "ecportal-demo")


def environment() -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("SITE_URL", f"http://127.0.0.1:{WEB_PORT}")
    env.setdefault("SMTP_PORT", str(SMTP_PORT))
    env.setdefault("CFSIM_PORT", str(CFSIM_PORT))
    env.setdefault("CFSIM_ROUTER_PORT", str(CFSIM_ROUTER_PORT))
    for name, secret in demo_secrets().items():
        env.setdefault(name, secret)
    env.setdefault("PYTHONUNBUFFERED", "1")
    return env


def manage(env, *args: str) -> None:
    subprocess.run([PY, "manage.py", *args], cwd=ROOT, env=env, check=True)


def wait_until_answers(url: str, seconds: float = 30) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2):
                return True
        except OSError:
            time.sleep(0.2)
    return False


def seeded_services() -> list[str]:
    """The demo service URLs, read from cfsim's state snapshot."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{CFSIM_PORT}/_cfsim/state", timeout=5) as reply:
            state = json.load(reply)
    except (OSError, ValueError):
        return []
    return sorted(f"https://{route['url']}" for route in state.get("routes", []))


def main() -> int:
    env = environment()
    manage(env, "migrate", "--no-input", "-v", "0")
    if not env.get("DATABASE_URL"):
        manage(env, "seed_demo")
    (ROOT / "var" / "mail").mkdir(parents=True, exist_ok=True)
    commands = {
        "cfsim": [PY, "-m", "cfsim", "--port", str(CFSIM_PORT), "--router-port", str(CFSIM_ROUTER_PORT)],
        "smtp": [PY, "-m", "ecportal.mailcatcher", "--port", str(SMTP_PORT), "--dir", "var/mail"],
        "web": [
            PY,
            "-m",
            "gunicorn",
            "ecportal.wsgi",
            "--bind",
            f"127.0.0.1:{WEB_PORT}",
            "--workers",
            "2",
            "--threads",
            "4",
            "--access-logfile",
            "-",
        ],
        "worker": [
            PY,
            "-m",
            "celery",
            "-A",
            "ecportal",
            "worker",
            "--pool",
            "prefork",
            "--concurrency",
            "2",
            "--loglevel",
            "INFO",
        ],
        "beat": [
            PY,
            "-m",
            "celery",
            "-A",
            "ecportal",
            "beat",
            "--loglevel",
            "INFO",
            "--schedule",
            str(ROOT / "var" / "celerybeat-schedule"),
        ],
    }
    processes: dict[str, subprocess.Popen] = {}

    def stop(*_):
        for process in processes.values():
            if process.poll() is None:
                process.terminate()
        for process in processes.values():
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
        sys.exit(0)

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    for name, command in commands.items():
        processes[name] = subprocess.Popen(command, cwd=ROOT, env=env)
        if name == "cfsim" and not wait_until_answers(f"http://127.0.0.1:{CFSIM_PORT}/"):
            print("cfsim did not start; see its output above.", file=sys.stderr)
            stop()
    if not wait_until_answers(f"http://127.0.0.1:{WEB_PORT}/accounts/login/"):
        print("The web server did not start; see its output above.", file=sys.stderr)
        stop()
    print_banner(env)
    while True:
        for name, process in processes.items():
            if process.poll() is not None:
                print(f"{name} exited with {process.returncode}; stopping everything.", file=sys.stderr)
                stop()
        time.sleep(1)


def print_banner(env) -> None:
    lines = [
        "",
        f"ecportal is running at {env['SITE_URL']}/",
        f"  API docs:      {env['SITE_URL']}/api/docs/",
        f"  cfsim (CF v3): http://127.0.0.1:{CFSIM_PORT}/   router: http://127.0.0.1:{CFSIM_ROUTER_PORT}/",
        f"  mail:          SMTP 127.0.0.1:{SMTP_PORT}, messages in var/mail/",
        f"  logins:        alice, bob (EC users), olga (EC team), admin; password: {DEMO_PASSWORD}",
        "  demo services:",
        *[f"    {url}" for url in seeded_services()],
        "Press Ctrl-C to stop everything.",
        "",
    ]
    print("\n".join(lines), flush=True)


if __name__ == "__main__":
    raise SystemExit(main())
