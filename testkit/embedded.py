"""Drive the portal in embedded mode (SQLite + the broker in files) from a subprocess, so a
test running on PostgreSQL can exercise `make run`'s stack too.

    python -m testkit.embedded setup
    python -m testkit.embedded file <service-url>      → prints the service id
    python -m testkit.embedded show <service-id>       → prints {state, step, lease_owner, error}
    python -m testkit.embedded queue <service-id>      → prints the status the EC team's queue shows

The environment (DATABASE_URL=sqlite:///…, CELERY_BROKER_URL=filesystem://, ECPORTAL_VAR_DIR, …)
comes from the caller.
"""

import json
import os
import re
import sys
import time

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ecportal.settings")


def main(argv: list[str]) -> None:
    import django

    django.setup()
    from django.contrib.auth.models import User
    from django.core.management import call_command

    from upgrades import actions, intake
    from upgrades.models import Preflight, Release, ServiceUpgrade
    from upgrades.workflow import Action, Plan

    command = argv[0]
    if command == "setup":
        call_command("migrate", verbosity=0)
        call_command("seed_demo", verbosity=0)
    elif command == "file":
        parsed, problems = intake.parse_service_urls([argv[1]])
        assert not problems, problems
        request = actions.submit_request(
            requester=User.objects.get(username="alice"),
            services=parsed,
            plan=Plan.BACK_TO_BACK,
            release=Release.objects.get(recommended=True),
            contacts=[],
            notes="",
        )
        service = request.services.get()
        deadline = time.monotonic() + 60
        while ServiceUpgrade.objects.get(pk=service.pk).preflight != Preflight.PASSED:
            assert time.monotonic() < deadline, "preflight did not pass in embedded mode"
            time.sleep(0.2)
        olga = User.objects.get(username="olga")
        actions.apply_request_action(request=request, action=Action.APPROVE, actor=olga)
        actions.apply_service_action(
            service=ServiceUpgrade.objects.get(pk=service.pk), action=Action.TRIGGER, actor=olga
        )
        print(service.pk)
    elif command == "show":
        service = ServiceUpgrade.objects.get(pk=int(argv[1]))
        fields = ("state", "step", "lease_owner", "error", "blue_deleted")
        print(json.dumps({name: getattr(service, name) for name in fields}))
    elif command == "queue":
        # The queue page as olga's browser gets it.
        from django.test import Client

        service = ServiceUpgrade.objects.get(pk=int(argv[1]))
        browser = Client()
        browser.force_login(User.objects.get(username="olga"))
        html = browser.get("/queue/").content.decode()
        row = re.search(rf'href="/requests/{service.request_id}/".*?class="badge [^"]*">([^<]+)<', html, re.S)
        print(row[1])


if __name__ == "__main__":
    main(sys.argv[1:])
