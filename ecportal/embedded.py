"""The demo foundations of the embedded set-up (`make run`, tests, benchmarks): three foundations,
all served by one cfsim. Production configures FOUNDATIONS instead."""

# slug, name, the one domain it serves, the variable holding its UAA client secret
DEMO_FOUNDATIONS = (
    ("predix-west", "Predix West / Basic", "run.aws-usw02-pr.ice.predix.io", "CF_SECRET_PREDIX_WEST"),
    ("predix-east", "Predix East / Select", "run.asv-pr.ice.predix.io", "CF_SECRET_PREDIX_EAST"),
    ("cf3", "CF3", "run.aws-usw02.dev.ice.predix.io", "CF_SECRET_CF3"),
)
# cfsim's own seed value for the portal's UAA client, not a real credential.
CFSIM_CLIENT_SECRET = "ecportal-sim-secret"


def demo_foundations(api_url: str, router_url: str = "") -> list[dict]:
    """FOUNDATIONS entries pointing every demo foundation at the cfsim on `api_url`, whose router
    (`router_url`) answers for the foundations' apps. CF3 is a dev foundation: the EC Service says
    which release it runs on `/v1beta/info/` there."""
    return [
        {"slug": slug, "name": name, "domains": [domain], "api_url": api_url, "client_id": "ecportal",
         "secret_env": secret_env, "router_url": router_url,
         "health_path": "/v1beta/info/" if ".dev." in domain else "/v1/info/"}
        for slug, name, domain, secret_env in DEMO_FOUNDATIONS
    ]  # fmt: skip


def demo_secrets() -> dict[str, str]:
    """The secret variables of the demo foundations, set to cfsim's client secret."""
    return {secret_env: CFSIM_CLIENT_SECRET for *_, secret_env in DEMO_FOUNDATIONS}


def demo_sign_in(api_url: str) -> dict[str, str]:
    """The OIDC_* variables that sign people in through the UAA of the cfsim on `api_url`."""
    return {
        "OIDC_UAA_URL": f"{api_url}/uaa",
        "OIDC_RP_CLIENT_ID": "ecportal",
        "OIDC_RP_CLIENT_SECRET": CFSIM_CLIENT_SECRET,
    }
