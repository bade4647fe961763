"""The set-up path: Python discovery, production settings, `check --deploy`, a fresh clone."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def run(*args, env=None, cwd=ROOT, timeout=120):
    return subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


def production_env(**overrides) -> dict:
    unset = ("DEBUG", "SECRET_KEY", "ALLOWED_HOSTS", "EVIDENCE_KEY")
    env = {k: v for k, v in os.environ.items() if k not in unset}
    env.update(
        DJANGO_SETTINGS_MODULE="ecportal.settings.production",
        SECRET_KEY="s" * 20 + "-k3y-" + "x" * 40,
        ALLOWED_HOSTS="ecportal.example.com",
        EVIDENCE_KEY="e" * 20 + "-evidence-" + "y" * 20,
        CACHE_URL=os.environ.get("CACHE_URL", "redis://127.0.0.1:6379/14"),
        METRICS_TOKEN="m" * 32,
    )
    env.update(overrides)
    return {k: v for k, v in env.items() if v is not None}


def test_find_python_picks_a_python_of_at_least_3_12():
    found = run("bash", "scripts/find-python.sh").stdout.strip()
    assert found, "a Python >= 3.12 is installed on this machine"
    version = run(found, "-c", "import sys; print(sys.version_info >= (3, 12))").stdout.strip()
    assert version == "True"


def test_find_python_prints_nothing_when_no_python_fits(tmp_path):
    fake = tmp_path / "python3"
    fake.write_text("#!/bin/sh\necho 311\n")
    fake.chmod(0o755)
    env = {"PATH": f"{tmp_path}:/usr/bin:/bin", "HOME": str(tmp_path)}
    assert run("bash", "scripts/find-python.sh", env=env).stdout.strip() == ""
    result = run("make", "-s", "install", "VENV=" + str(tmp_path / "venv"), env=env)
    assert result.returncode != 0 and "needs Python 3.12 or newer" in result.stderr


def test_check_deploy_is_clean_under_production_settings():
    result = run(
        sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING", env=production_env()
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"DEBUG": "true"}, "DEBUG must be off"),
        ({"SECRET_KEY": None}, "SECRET_KEY must be set"),
        ({"ALLOWED_HOSTS": None}, "ALLOWED_HOSTS must be set"),
        ({"EVIDENCE_KEY": None}, "EVIDENCE_KEY must be set"),
        ({"EVIDENCE_KEY": "short"}, "EVIDENCE_KEY must be set"),
        ({"CACHE_URL": None}, "CACHE_URL must name the Redis"),
        ({"CACHE_URL": "filecache:///tmp/ecportal-cache"}, "CACHE_URL must name the Redis"),
        ({"METRICS_TOKEN": None}, "METRICS_TOKEN must be set"),
    ],
)
def test_production_settings_refuse_unsafe_configuration(overrides, message):
    result = run(sys.executable, "manage.py", "check", env=production_env(**overrides))
    assert result.returncode != 0 and message in result.stderr


def test_production_refuses_demo_data():
    result = run(sys.executable, "manage.py", "seed_demo", env=production_env())
    assert result.returncode != 0 and "embedded mode only" in result.stderr


def test_a_fresh_clone_has_everything_the_commands_need(tmp_path):
    clone = tmp_path / "clone"
    assert run("git", "clone", "-q", str(ROOT), str(clone)).returncode == 0
    for needed in [
        "Makefile",
        ".ci/run",
        "scripts/test.sh",
        "scripts/run.py",
        "scripts/ensure-services.sh",
        "scripts/find-python.sh",
        "pyproject.toml",
        "requirements.lock",
        "scripts/ensure-browser.sh",
        "README.md",
        "docker-compose.yml",
        "manifest.yml",
        "gunicorn.conf.py",
    ]:
        assert (clone / needed).exists(), f"{needed} is committed"
    dry = run("make", "-n", "test", "run", cwd=clone)
    assert dry.returncode == 0, dry.stderr
    assert (
        "pip install --quiet -c requirements.lock" in dry.stdout
        and "scripts/test.sh" in dry.stdout
        and "scripts/run.py" in dry.stdout
    )
    assert "make test" in (clone / ".ci/run").read_text()
    readme = (clone / "README.md").read_text()
    assert "make run" in readme and "make test" in readme
