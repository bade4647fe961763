"""How sign-in through UAA is configured: from the environment (OIDC_UAA_URL names every endpoint as UAA
does), off when nothing is set, and set up by `make run` against its cfsim."""

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SHOWN = ("OIDC_ENABLED", "OIDC_OP_AUTHORIZATION_ENDPOINT", "OIDC_OP_TOKEN_ENDPOINT", "OIDC_OP_USER_ENDPOINT",
         "OIDC_OP_JWKS_ENDPOINT", "OIDC_OP_ISSUER", "OIDC_RP_SIGN_ALGO", "OIDC_USE_PKCE")  # fmt: skip


def settings_with(tmp_path, **variables: str) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OIDC_")}
    env |= {"DJANGO_SETTINGS_MODULE": "ecportal.settings", "ECPORTAL_VAR_DIR": str(tmp_path)} | variables
    shown = f"{{n: getattr(settings, n) for n in {SHOWN!r}}}"
    script = f"import json; from django.conf import settings; print(json.dumps({shown}))"
    out = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, check=True
    )
    return json.loads(out.stdout)


def test_uaa_url_and_client_configure_every_endpoint(tmp_path):
    configured = settings_with(
        tmp_path,
        OIDC_UAA_URL="https://uaa.sys.example.com/",
        OIDC_RP_CLIENT_ID="ecportal",
        OIDC_RP_CLIENT_SECRET="from-the-environment",
    )
    assert configured == {
        "OIDC_ENABLED": True,
        "OIDC_OP_AUTHORIZATION_ENDPOINT": "https://uaa.sys.example.com/oauth/authorize",
        "OIDC_OP_TOKEN_ENDPOINT": "https://uaa.sys.example.com/oauth/token",
        "OIDC_OP_USER_ENDPOINT": "https://uaa.sys.example.com/userinfo",
        "OIDC_OP_JWKS_ENDPOINT": "https://uaa.sys.example.com/token_keys",
        "OIDC_OP_ISSUER": "https://uaa.sys.example.com/oauth/token",
        "OIDC_RP_SIGN_ALGO": "RS256",
        "OIDC_USE_PKCE": True,
    }


def test_without_a_provider_sign_in_through_it_is_off(tmp_path):
    assert settings_with(tmp_path)["OIDC_ENABLED"] is False
    assert (
        settings_with(tmp_path, OIDC_UAA_URL="https://uaa.example.com")["OIDC_ENABLED"] is False
    )  # no client


def test_make_run_signs_in_through_its_cfsims_uaa(monkeypatch):
    for name in ("OIDC_UAA_URL", "OIDC_RP_CLIENT_ID", "OIDC_RP_CLIENT_SECRET"):
        monkeypatch.delenv(name, raising=False)
    spec = importlib.util.spec_from_file_location("make_run", ROOT / "scripts" / "run.py")
    run = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(run)
    env = run.environment()
    assert env["OIDC_UAA_URL"] == f"http://127.0.0.1:{run.CFSIM_PORT}/uaa"
    assert env["OIDC_RP_CLIENT_ID"] == "ecportal" and env["OIDC_RP_CLIENT_SECRET"]
