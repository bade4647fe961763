"""Demo users and releases for embedded mode (`make run`); refused under production settings."""

import os

from django.conf import settings
from django.contrib.auth.models import User
from django.core.management.base import BaseCommand, CommandError

from upgrades.models import Release
from upgrades.permissions import ec_team_group

DEMO_USERS = [
    # username, email, EC team, superuser
    ("alice", "alice@example.com", False, False),
    ("bob", "bob@example.com", False, False),
    ("olga", "olga@example.com", True, False),
    ("admin", "admin@example.com", True, True),
]
DEMO_RELEASES = [
    ("sendai.120", "ecsim/ec-service:sendai.120", False),
    ("okinawa.130", "ecsim/ec-service:okinawa.130", True),
]


class Command(BaseCommand):
    help = "Create the demo users (alice, bob, olga, admin) and releases. Embedded mode only."

    def handle(self, *args, **options):
        if not settings.EMBEDDED:
            raise CommandError("Demo data is for embedded mode only, never production.")
        password = os.environ.get("DEMO_PASSWORD", "ecportal-demo")
        ec_team = ec_team_group()
        for username, email, in_team, superuser in DEMO_USERS:
            user, created = User.objects.get_or_create(username=username, defaults={"email": email})
            if created:
                user.set_password(password)
            user.is_staff = user.is_superuser = superuser
            user.save()
            if in_team:
                user.groups.add(ec_team)
        # Exactly one recommended release: clear the flag before setting it, one row at a time.
        Release.objects.exclude(name__in=[name for name, _, rec in DEMO_RELEASES if rec]).update(
            recommended=False
        )
        for name, image, recommended in DEMO_RELEASES:
            Release.objects.update_or_create(
                name=name, defaults={"docker_image": image, "recommended": recommended}
            )
        self.stdout.write(f"Demo users: {', '.join(u[0] for u in DEMO_USERS)} (password from DEMO_PASSWORD).")
