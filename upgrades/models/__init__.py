"""Data only: fields, constraints and the `visible_to(user)` querysets. Writes go through services.

One module per part of the domain; every model is importable from `upgrades.models`.
"""

from upgrades.models.campaigns import Campaign
from upgrades.models.deadlines import Leftover, WindowReminder
from upgrades.models.fleet import FleetChange, FleetContact, FleetService, FleetSync, TeamOnlyQuerySet
from upgrades.models.identity import ProviderIdentity
from upgrades.models.probes import ProbeRun, ProbeSecond
from upgrades.models.requests import (
    CallLog,
    Contact,
    ContactLink,
    Delivery,
    Event,
    Notification,
    NotificationEntry,
    Preflight,
    Release,
    ServiceUpgrade,
    ServiceUpgradeQuerySet,
    UpgradeRequest,
    UpgradeRequestQuerySet,
    version_bump,
)
from upgrades.models.webhooks import Webhook, WebhookQuerySet

__all__ = [
    "CallLog",
    "Campaign",
    "Contact",
    "ContactLink",
    "Delivery",
    "Event",
    "FleetChange",
    "FleetContact",
    "FleetService",
    "FleetSync",
    "Leftover",
    "Notification",
    "NotificationEntry",
    "Preflight",
    "ProviderIdentity",
    "ProbeRun",
    "ProbeSecond",
    "Release",
    "ServiceUpgrade",
    "ServiceUpgradeQuerySet",
    "TeamOnlyQuerySet",
    "UpgradeRequest",
    "UpgradeRequestQuerySet",
    "Webhook",
    "WebhookQuerySet",
    "version_bump",
    "WindowReminder",
]
