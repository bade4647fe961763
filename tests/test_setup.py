"""The set-up path: Python discovery, production settings, `check --deploy`, a fresh clone."""

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from ecportal.vcap import bound_urls
from testkit.production import REQUIRED, production_env

ROOT = Path(__file__).resolve().parent.parent


def run(*args, env=None, cwd=ROOT, timeout=120):
    return subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


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
        *[({name: None}, f"{name} must") for name in REQUIRED],
        ({"DEBUG": "true"}, "DEBUG must be off"),
        ({"EVIDENCE_KEY": "short"}, "EVIDENCE_KEY must be set"),
        ({"CACHE_URL": "filecache:///tmp/ecportal-cache"}, "CACHE_URL must name the Redis"),
    ],
)
def test_production_settings_refuse_unsafe_configuration(overrides, message):
    result = run(sys.executable, "manage.py", "check", env=production_env(**overrides))
    assert result.returncode != 0 and message in result.stderr


def test_the_manifest_and_compose_set_every_variable_production_requires():
    (app,) = yaml.safe_load((ROOT / "manifest.yml").read_text())["applications"]
    # On CF the broker and the cache (and the database) come from the bound services.
    from_bound_services = set(
        bound_urls('{"redis": [{"label": "redis", "credentials": {"uri": "redis://r"}}]}')
    )
    assert from_bound_services == {"CELERY_BROKER_URL", "CACHE_URL"}
    missing = set(REQUIRED) - set(app["env"]) - from_bound_services
    assert not missing, f"manifest.yml env lacks {sorted(missing)}"
    # A secret comes from the vars file, never from the manifest itself.
    assert app["env"]["EVIDENCE_KEY"] == "((evidence_key))"

    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    for process in ("web", "worker", "beat"):
        environment = compose["services"][process]["environment"]
        missing = set(REQUIRED) - set(environment)
        assert not missing, f"docker-compose.yml {process} lacks {sorted(missing)}"
    environment = compose["services"]["web"]["environment"]
    for name in ("SECRET_KEY", "EVIDENCE_KEY", "METRICS_TOKEN", "ALLOWED_HOSTS"):
        # `${NAME:?…}`: compose refuses to start without it, instead of a container failing at boot.
        assert environment[name].startswith(f"${{{name}:?"), name


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
