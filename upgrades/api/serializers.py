"""API shapes (DESIGN §5). Input serializers only parse; services decide."""

from dataclasses import replace

from django.conf import settings
from drf_spectacular.utils import extend_schema_field, inline_serializer
from rest_framework import serializers

from upgrades import addresses, foundations, intake
from upgrades.models import Campaign, Release
from upgrades.selectors import request_actions, service_actions
from upgrades.workflow import FAILED_STATE, PLAN_LABELS, RUNNING_STATES, STATE_LABELS, Plan

STEP_STATES = RUNNING_STATES | frozenset(FAILED_STATE.values())


def _raise(problems: list[intake.Problem]):
    if problems:
        raise serializers.ValidationError([str(p) for p in problems])


class ProbeSerializer(serializers.Serializer):
    """The probes of the original URL through the latest Step 2 attempt."""

    sent = serializers.IntegerField()
    failed = serializers.IntegerField()
    p50_ms = serializers.IntegerField(allow_null=True)
    p99_ms = serializers.IntegerField(allow_null=True)


class ServiceSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.SerializerMethodField()
    url = serializers.CharField()
    zone_id = serializers.CharField()
    domain = serializers.CharField()
    foundation = serializers.CharField()
    foundation_name = serializers.SerializerMethodField()
    plan = serializers.ChoiceField(choices=list(PLAN_LABELS.items()))
    after = serializers.IntegerField(
        source="after_id",
        allow_null=True,
        help_text="The id of the service whose confirmation this one waits for.",
    )
    state = serializers.CharField()
    state_label = serializers.CharField()
    step = serializers.SerializerMethodField()
    temporary_url = serializers.SerializerMethodField()
    error = serializers.CharField()
    progress = serializers.CharField()
    preflight = serializers.CharField()
    preflight_message = serializers.CharField()
    trigger_at = serializers.DateTimeField(allow_null=True)
    plan_fingerprint = serializers.SerializerMethodField()
    change_plan = serializers.JSONField(
        help_text="What will happen on CF: the resources to create, change and delete, by name and GUID."
    )
    test_window_ends_at = serializers.DateTimeField(
        allow_null=True,
        help_text="When the test window ends; null while its clock stands still or it has none.",
    )
    previous_release_kept_until = serializers.SerializerMethodField()
    allowed_actions = serializers.SerializerMethodField()
    probe = serializers.SerializerMethodField()

    @extend_schema_field(serializers.DateTimeField(allow_null=True))
    def get_previous_release_kept_until(self, service) -> str | None:
        """Until when the old app is kept and the previous release can be restored, or null."""
        if not service.restorable:
            return None
        return serializers.DateTimeField().to_representation(service.blue_retained_until)

    def get_name(self, service) -> str | None:
        """The CF service instance's name, or null until preflight learnt it."""
        return service.name or None

    def get_step(self, service) -> str:
        """The sub-step running now, or where a failed step stopped; empty in every other state."""
        return service.step if service.state in STEP_STATES else ""

    def get_foundation_name(self, service) -> str:
        return foundations.name_of(service.foundation)

    def get_temporary_url(self, service) -> str | None:
        return service.temporary_url_live or None

    def get_plan_fingerprint(self, service) -> str | None:
        """SHA-256 of the plan's canonical JSON, or null before preflight surveyed the service."""
        return service.plan_fingerprint or None

    def get_allowed_actions(self, service) -> list[str]:
        user = self.context["request"].user
        return [str(action) for action in service_actions(user, service.request, service)]

    @extend_schema_field(ProbeSerializer(allow_null=True))
    def get_probe(self, service) -> dict | None:
        """The probes of the original URL through Step 2; null before Step 2 began."""
        return service.probe


class RequestSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    reference = serializers.CharField()
    status = serializers.SerializerMethodField()
    plan = serializers.CharField()
    release = serializers.CharField(source="release.name")
    contacts = serializers.SerializerMethodField()
    notes = serializers.CharField()
    requester = serializers.CharField(source="requester.username")
    created_at = serializers.DateTimeField()
    services = serializers.SerializerMethodField()
    allowed_actions = serializers.SerializerMethodField()

    def get_allowed_actions(self, request) -> list[str]:
        """Request-wide actions (approve, reject, cancel, confirm all) the caller may fire now."""
        return [str(action) for action in request_actions(self.context["request"].user, request)]

    def get_status(self, request) -> str:
        return str(request.status_from(request.services.all()))

    def get_contacts(self, request) -> list[str]:
        return [str(contact) for contact in request.contacts.all()]

    @extend_schema_field(ServiceSerializer(many=True))
    def get_services(self, request) -> list[dict]:
        services = list(request.services.all())
        for service in services:
            # The request is already loaded; spare a query per service.
            service.request = request
        return ServiceSerializer(services, many=True, context=self.context).data


class ServiceEntrySerializer(serializers.Serializer):
    """One service of a new request, with its own plan and the service it waits for."""

    url = serializers.CharField(allow_blank=True, trim_whitespace=False, max_length=intake.MAX_URL_LENGTH)
    plan = serializers.ChoiceField(
        choices=list(PLAN_LABELS.items()), required=False, help_text="Default: the request's plan."
    )
    after = serializers.IntegerField(
        required=False,
        allow_null=True,
        help_text="The 0-based index of another service in this list whose confirmation this one waits for.",
    )


class RequestCreateSerializer(serializers.Serializer):
    # The limits are the settings' (MAX_*), so the schema states what intake enforces.
    service_urls = serializers.ListField(
        child=serializers.CharField(
            allow_blank=True, trim_whitespace=False, max_length=intake.MAX_URL_LENGTH
        ),
        required=False,
        max_length=settings.MAX_SERVICES_PER_REQUEST,
        error_messages={"max_length": "A request may name at most {max_length} services."},
        help_text="The services' URLs, each with the request's plan. Give this or `services`.",
    )
    services = serializers.ListField(
        child=ServiceEntrySerializer(),
        required=False,
        max_length=settings.MAX_SERVICES_PER_REQUEST,
        error_messages={"max_length": "A request may name at most {max_length} services."},
        help_text="The services, each with its own plan and the service it waits for. Give this or "
        "`service_urls`.",
    )
    plan = serializers.ChoiceField(
        choices=list(PLAN_LABELS.items()),
        default=Plan.TEST_FIRST,
        help_text="The request's plan: every service's unless it chose its own.",
    )
    release = serializers.CharField(required=False, allow_blank=True, default="", max_length=64)
    contacts = serializers.ListField(
        child=serializers.CharField(allow_blank=True, trim_whitespace=False, max_length=addresses.MAX_LENGTH),
        default=list,
        max_length=settings.MAX_CONTACTS_PER_REQUEST,
        help_text="Each an email address (mailed every update) or other contact info such as a chat handle "
        "or a phone number (up to 200 characters; shown to the EC team, never mailed).",
        error_messages={"max_length": "A request may have at most {max_length} points of contact."},
    )
    notes = serializers.CharField(
        required=False,
        allow_blank=True,
        default="",
        trim_whitespace=False,
        max_length=settings.MAX_NOTES_LENGTH,
        error_messages={"max_length": "Notes may be at most {max_length} characters."},
    )

    def validate_service_urls(self, value):
        services, problems = intake.parse_service_urls(value)
        _raise(problems)
        return services

    def validate_services(self, value):
        services, problems = intake.parse_service_urls([entry["url"] for entry in value])
        after = [entry.get("after") for entry in value]
        if not problems:
            problems = intake.check_order([f"Line {i}" for i in range(1, len(value) + 1)], after)
        _raise(problems)
        return [
            replace(service, plan=entry.get("plan", ""), after=entry.get("after"))
            for service, entry in zip(services, value, strict=True)
        ]

    def validate(self, attrs):
        """Exactly one of the two shapes names the services; either way `services` holds them."""
        if "services" in attrs and "service_urls" in attrs:
            raise serializers.ValidationError(
                {"services": ["Give either services or service_urls, not both."]}
            )
        if "services" not in attrs and "service_urls" not in attrs:
            raise serializers.ValidationError(
                {"service_urls": ["This field is required (or give services instead)."]}
            )
        attrs.setdefault("services", attrs.pop("service_urls", None))
        return attrs

    @property
    def services_field(self) -> str:
        """The field that named the services, for messages about them (after `is_valid`)."""
        return "services" if "services" in self.initial_data else "service_urls"

    def validate_contacts(self, value):
        contacts, problems = intake.parse_contacts(value)
        _raise(problems)
        return contacts

    def validate_notes(self, value):
        _raise(intake.check_notes(value))
        return value

    def validate_release(self, value):
        if not value:
            release = Release.objects.filter(recommended=True).first() or Release.objects.first()
            if release is None:
                raise serializers.ValidationError("No release is configured yet; ask the EC team.")
            return release
        try:
            return Release.objects.get(name=value)
        except Release.DoesNotExist:
            known = ", ".join(Release.objects.values_list("name", flat=True))
            raise serializers.ValidationError(
                f"Unknown release “{value}”. Known releases: {known}."
            ) from None


class RequestFilterSerializer(serializers.Serializer):
    """The query parameters of GET /api/requests/: each one given narrows the list; empty ones are ignored."""

    state = serializers.ChoiceField(
        choices=list(STATE_LABELS.items()),
        required=False,
        allow_blank=True,
        help_text="Requests with a service in this state.",
    )
    foundation = serializers.CharField(
        required=False, allow_blank=True, help_text="Requests with a service on this foundation (its slug)."
    )
    zone_id = serializers.CharField(
        required=False, allow_blank=True, help_text="Requests for the service with this zone ID."
    )

    def validate_foundation(self, value):
        if value and foundations.by_slug(value) is None:
            known = ", ".join(foundation.slug for foundation in foundations.all_foundations())
            raise serializers.ValidationError(f"Unknown foundation “{value}”. Known foundations: {known}.")
        return value


class ReasonSerializer(serializers.Serializer):
    reason = serializers.CharField(
        required=False, allow_blank=True, default="", max_length=settings.MAX_REASON_LENGTH
    )


class ExtendWindowSerializer(serializers.Serializer):
    hours = serializers.FloatField(
        required=False,
        default=None,
        allow_null=True,
        min_value=1,
        max_value=24 * settings.MAX_SCHEDULE_DAYS,
        help_text="How many hours to add (default: TEST_WINDOW_EXTENSION_SECONDS).",
    )


class ActionSerializer(ReasonSerializer):
    trigger_at = serializers.DateTimeField(required=False, allow_null=True, default=None)
    start_step2_on_confirmation = serializers.BooleanField(required=False, allow_null=True, default=None)
    plan_fingerprints = serializers.DictField(
        child=serializers.CharField(max_length=64, allow_blank=True),
        required=False,
        allow_empty=False,
        help_text="Approve only: each service's `plan_fingerprint` as the approver saw it, by service id. "
        "A plan that changed since is refused with 409. Optional: without it, the stored plans are approved.",
    )
    fingerprint = serializers.CharField(
        max_length=64,
        required=False,
        help_text="Approve only: the `plan_fingerprint` seen, for every service (a one-service request).",
    )

    def validate_plan_fingerprints(self, value: dict) -> dict[int, str]:
        if not all(str(key).isdigit() for key in value):
            raise serializers.ValidationError("Give each fingerprint under its service id.")
        return {int(key): fingerprint for key, fingerprint in value.items()}

    def validate(self, attrs: dict) -> dict:
        if "plan_fingerprints" in attrs and "fingerprint" in attrs:
            raise serializers.ValidationError("Give plan_fingerprints or fingerprint, not both.")
        return attrs


class StepSerializer(serializers.Serializer):
    step = serializers.ChoiceField(
        choices=[(1, "Step 1"), (2, "Step 2")],
        default=1,
        help_text="Which step to start for every service that may start it now.",
    )


class EventSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    kind = serializers.CharField()
    service = serializers.IntegerField(source="service_id", allow_null=True)
    actor = serializers.CharField(source="actor_label")
    from_state = serializers.CharField()
    to_state = serializers.CharField()
    message = serializers.CharField()
    created_at = serializers.DateTimeField()


class LeftServiceSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField(allow_null=True)
    zone_id = serializers.CharField()
    state = serializers.CharField()
    reason = serializers.CharField()


class RequestActionResultSerializer(RequestSerializer):
    """The request after a request-wide action, and the services it left as they were (with why)."""

    left_as_they_were = LeftServiceSerializer(many=True, read_only=True)


# --- Error bodies (documented in the schema; upgrades/api/errors.py writes them) -----------------


class ErrorSerializer(serializers.Serializer):
    """A refusal that is about no field in particular."""

    detail = serializers.CharField()


def field_errors(name: str, parsed: type[serializers.Serializer]) -> serializers.Serializer:
    """The 400 body for input parsed by `parsed`: the messages of each of its fields that was wrong
    (an item of a list named by its line), `non_field_errors` for the input as a whole, or `detail`
    alone when the body could not be read (e.g. JSON that does not parse)."""
    fields = {
        field: serializers.ListField(child=serializers.CharField(), required=False)
        for field in [*parsed().fields, "non_field_errors"]
    }
    return inline_serializer(name=name, fields={**fields, "detail": serializers.CharField(required=False)})


class FleetFilterSerializer(serializers.Serializer):
    """The query parameters of GET /api/fleet/: each one given narrows the list."""

    foundation = serializers.CharField(
        required=False, allow_blank=True, max_length=64, help_text="A foundation's slug."
    )
    release = serializers.CharField(
        required=False, allow_blank=True, max_length=64, help_text="A release, e.g. okinawa.130."
    )
    q = serializers.CharField(
        required=False, allow_blank=True, max_length=200, help_text="Part of a service name or zone ID."
    )


class FleetServiceSerializer(serializers.Serializer):
    """An EC service as the last inventory sync found it, and the state of its latest upgrade."""

    zone_id = serializers.CharField()
    name = serializers.CharField(help_text="The CF service instance's name (empty when CF has none).")
    foundation = serializers.CharField()
    release = serializers.CharField(
        help_text="The release its app runs (the image's tag when the portal does not know it)."
    )
    instances = serializers.IntegerField()
    state = serializers.CharField(
        source="upgrade_state", allow_null=True, help_text="The state of its latest upgrade; null if none."
    )


# --- Campaigns (DESIGN §6) ----------------------------------------------------------------------


class CampaignCreateSerializer(serializers.Serializer):
    """A campaign's services come as `zone_ids` or `service_urls` (exactly one of them)."""

    name = serializers.CharField(max_length=200)
    release = serializers.CharField(required=False, allow_blank=True, default="", max_length=64)
    zone_ids = serializers.ListField(
        child=serializers.CharField(max_length=intake.MAX_URL_LENGTH),
        required=False,
        max_length=settings.MAX_SERVICES_PER_CAMPAIGN,
    )
    service_urls = serializers.ListField(
        child=serializers.CharField(max_length=intake.MAX_URL_LENGTH),
        required=False,
        max_length=settings.MAX_SERVICES_PER_CAMPAIGN,
    )
    plan = serializers.ChoiceField(choices=list(PLAN_LABELS.items()), default=Plan.BACK_TO_BACK)
    canary_size = serializers.IntegerField(
        min_value=1, max_value=settings.MAX_SERVICES_PER_CAMPAIGN, default=1
    )
    wave_size = serializers.IntegerField(
        min_value=1, max_value=settings.MAX_SERVICES_PER_CAMPAIGN, default=10
    )
    max_parallel = serializers.IntegerField(min_value=1, max_value=1000, default=10)
    pause_seconds = serializers.IntegerField(
        min_value=0,
        max_value=7 * 24 * 3600,
        allow_null=True,
        default=None,
        help_text="Seconds between waves; null: wait for a person to continue.",
    )
    failure_budget = serializers.IntegerField(
        min_value=1,
        max_value=settings.MAX_SERVICES_PER_CAMPAIGN,
        default=1,
        help_text="Stop starting services once this many failed or were rolled back.",
    )
    failure_budget_percent = serializers.IntegerField(
        min_value=1,
        max_value=100,
        allow_null=True,
        default=None,
        help_text="Also stop once this percentage of the current wave failed (whichever comes first).",
    )
    foundation_order = serializers.ListField(
        child=serializers.CharField(max_length=64),
        default=list,
        max_length=20,
        help_text='Foundation slugs whose services go first, in this order (e.g. ["cf3"]).',
    )

    validate_release = RequestCreateSerializer.validate_release

    def validate(self, attrs):
        given = [name for name in ("zone_ids", "service_urls") if name in attrs]
        if len(given) != 1:
            raise serializers.ValidationError("Give the services as either zone_ids or service_urls.")
        return attrs


class CampaignActionSerializer(serializers.Serializer):
    """The body of a campaign action: `start_at` for start, `running` for abort; the others take none."""

    start_at = serializers.DateTimeField(
        required=False,
        allow_null=True,
        default=None,
        help_text="Start only. ISO 8601; when to start (not in the past, at most MAX_SCHEDULE_DAYS "
        "ahead). Absent or null: now.",
    )
    running = serializers.ChoiceField(
        choices=Campaign.Running.choices,
        default=Campaign.Running.FINISH,
        help_text="Abort only. What the services already started do: finish, or roll back (every "
        "one that has not completed). Services not yet started are cancelled either way.",
    )


class EtaSerializer(serializers.Serializer):
    at = serializers.DateTimeField()
    seconds = serializers.IntegerField()
    waits = serializers.BooleanField(help_text="True: waits for a person to continue are not counted.")


class WaveSerializer(serializers.Serializer):
    number = serializers.IntegerField()
    state = serializers.ChoiceField(choices=["waiting", "running", "done"])
    services = serializers.SerializerMethodField()

    def get_services(self, wave) -> list[int]:
        return self.context["wave_members"][wave.number]


class LeftOutSerializer(serializers.Serializer):
    zone_id = serializers.CharField()
    name = serializers.CharField()
    foundation = serializers.CharField()
    release = serializers.CharField()
    reason = serializers.CharField()


class CampaignSummarySerializer(serializers.Serializer):
    id = serializers.IntegerField()
    reference = serializers.CharField()
    name = serializers.CharField()
    release = serializers.CharField(source="release.name")
    plan = serializers.CharField()
    state = serializers.CharField()
    creator = serializers.CharField(source="creator.username")
    approved_by = serializers.CharField(source="approved_by.username", allow_null=True, default=None)
    canary_size = serializers.IntegerField()
    wave_size = serializers.IntegerField()
    max_parallel = serializers.IntegerField()
    pause_seconds = serializers.IntegerField(allow_null=True)
    failure_budget = serializers.IntegerField()
    failure_budget_percent = serializers.IntegerField(allow_null=True)
    foundation_order = serializers.ListField(child=serializers.CharField())
    start_at = serializers.DateTimeField(allow_null=True, help_text="When a scheduled start is due.")
    started_at = serializers.DateTimeField(allow_null=True)
    current_wave = serializers.IntegerField()
    reason = serializers.CharField(help_text="Why it stopped or was aborted.")
    abort_running = serializers.CharField(
        help_text="Aborted: what the services already started do (finish or rollback); empty before."
    )
    created_at = serializers.DateTimeField()
    ended_at = serializers.DateTimeField(
        allow_null=True, help_text="When it ended; an abort ends once every service has ended."
    )


class CampaignSerializer(CampaignSummarySerializer):
    """A campaign with its progress; the view passes `progress` and `services` in the context."""

    counts = serializers.SerializerMethodField()
    eta = serializers.SerializerMethodField(help_text="Null: unknown until a service completed.")
    waves = serializers.SerializerMethodField()
    left_out = LeftOutSerializer(many=True)
    allowed_actions = serializers.SerializerMethodField()
    services = serializers.SerializerMethodField()

    @extend_schema_field(EtaSerializer(allow_null=True))
    def get_eta(self, campaign) -> dict | None:
        found = self.context["progress"].eta
        return EtaSerializer(found).data if found else None

    def get_counts(self, campaign) -> dict[str, int]:
        return self.context["progress"].counts

    @extend_schema_field(WaveSerializer(many=True))
    def get_waves(self, campaign) -> list[dict]:
        return WaveSerializer(self.context["progress"].waves, many=True, context=self.context).data

    def get_allowed_actions(self, campaign) -> list[str]:
        return [str(action) for action in self.context["allowed"]]

    @extend_schema_field(ServiceSerializer(many=True))
    def get_services(self, campaign) -> list[dict]:
        return ServiceSerializer(self.context["services"], many=True, context=self.context).data


class EvidenceSignatureSerializer(serializers.Serializer):
    algorithm = serializers.CharField(help_text="HMAC-SHA256")
    value = serializers.CharField(help_text="Hex HMAC of the canonical JSON of `evidence`.")


class EvidencePackSerializer(serializers.Serializer):
    """A request's signed evidence pack; `manage.py verify_evidence FILE` checks a saved one."""

    evidence = serializers.JSONField(
        help_text="format, generated_at, request, filed, approvals (with plan fingerprints), acted, "
        "services (plan, fingerprints, probe), events, cf_calls, mails."
    )
    signature = EvidenceSignatureSerializer()
