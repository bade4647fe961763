"""Fixtures for notification tests: a fixed SITE_URL, a grouping window, a way to walk services to a
state, a real SMTP listener on a free loopback port, and "send everything now"."""

import email
import email.policy
import socket
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from ecportal.mailcatcher import serve
from upgrades import actions, workflow
from upgrades.models import Delivery, Notification, ServiceUpgrade
from upgrades.notifications import sender
from upgrades.workflow import State

SITE = "https://portal.example.test"
TEAM = ["olga@example.com", "oscar@example.com"]


@pytest.fixture(autouse=True)
def _notify_settings(settings):
    settings.SITE_URL = SITE
    settings.NOTIFY_GROUP_SECONDS = 3
    settings.EC_TEAM_EMAILS = []
    settings.NOTIFY_RETRY_BASE = 10
    settings.NOTIFY_RETRY_CAP = 600


def make_ready() -> None:
    """Close every grouping window and retry delay, as if enough time had passed."""
    past = timezone.now() - timedelta(seconds=1)
    Notification.objects.update(ready_at=past)
    Delivery.objects.filter(status=Delivery.Status.PENDING).update(next_attempt_at=past)


def send_all() -> sender.SendReport:
    make_ready()
    return sender.send_due()


# The path of each state from `approved`, through the transitions the engine and users make.
PATH = {
    State.STEP1_RUNNING: [State.STEP1_RUNNING],
    State.AWAITING_VERIFICATION: [State.STEP1_RUNNING, State.AWAITING_VERIFICATION],
    State.STEP1_FAILED: [State.STEP1_RUNNING, State.STEP1_FAILED],
    State.STEP2_RUNNING: [
        State.STEP1_RUNNING,
        State.AWAITING_VERIFICATION,
        State.VERIFIED,
        State.STEP2_RUNNING,
    ],
    State.COMPLETED: [
        State.STEP1_RUNNING,
        State.AWAITING_VERIFICATION,
        State.VERIFIED,
        State.STEP2_RUNNING,
        State.COMPLETED,
    ],
}
TEMP_HOST_SUFFIX = "-upgrade-a1b2c3"


def walk(service: ServiceUpgrade, target: State, *, actor=None) -> ServiceUpgrade:
    """Move an approved service to `target` through real CAS transitions (the system's or `actor`'s)."""
    for state in PATH[target]:
        service.refresh_from_db()
        updates = {}
        if state == State.AWAITING_VERIFICATION:
            updates = {"temp_host": service.zone_id + TEMP_HOST_SUFFIX, "temp_route_guid": "route-guid-1"}
        if state == State.STEP1_FAILED:
            updates = {"error": "Staging failed: <docker image not found>", "step": "stage"}
        system = (State(service.state), state) in workflow.SYSTEM_TRANSITIONS
        who = actions.SYSTEM if system else actions.Actor.of(actor)
        action = None if system else _action_between(State(service.state), state)
        actions.transition(service, target=state, actor=who, action=action, updates=updates)
    service.refresh_from_db()
    return service


def _action_between(source: State, target: State) -> workflow.Action:
    return next(r.action for r in workflow.RULES if source in r.sources and r.target == target)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Catcher:
    """The project's SMTP catcher on a loopback port, and the messages it wrote, parsed."""

    def __init__(self, port: int, directory: Path):
        self.port, self.directory, self.controller = port, directory, None

    def start(self) -> None:
        self.controller = serve("127.0.0.1", self.port, self.directory)

    def stop(self) -> None:
        if self.controller:
            self.controller.stop()
            self.controller = None

    def messages(self) -> list[email.message.EmailMessage]:
        return [
            email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
            for path in sorted(self.directory.glob("*.eml"))
        ]


@pytest.fixture
def smtp(settings, tmp_path):
    """Point the default mailer at a real SMTP listener (not yet started: tests start it)."""
    catcher = Catcher(free_port(), tmp_path / "mail")
    settings.MAILERS = {
        "default": {
            "BACKEND": "django.core.mail.backends.smtp.EmailBackend",
            "OPTIONS": {"host": "127.0.0.1", "port": catcher.port, "timeout": 5},
        }
    }
    yield catcher
    catcher.stop()
