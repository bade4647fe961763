"""API shapes (DESIGN §5). Input serializers only parse; services decide."""

from django.conf import settings
from drf_spectacular.utils import extend_schema_field, inline_serializer
from rest_framework import serializers

from upgrades import addresses, foundations, intake
from upgrades.models import Release
from upgrades.selectors import request_actions, service_actions
from upgrades.workflow import PLAN_LABELS, STATE_LABELS, Plan


def _raise(problems: list[intake.Problem]):
    if problems:
        raise serializers.ValidationError([str(p) for p in problems])


class ServiceSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.SerializerMethodField()
    url = serializers.CharField()
    zone_id = serializers.CharField()
    domain = serializers.CharField()
    foundation = serializers.CharField()
    foundation_name = serializers.SerializerMethodField()
    state = serializers.CharField()
    state_label = serializers.CharField()
    step = serializers.CharField()
    temporary_url = serializers.SerializerMethodField()
    error = serializers.CharField()
    progress = serializers.CharField()
    preflight = serializers.CharField()
    preflight_message = serializers.CharField()
    trigger_at = serializers.DateTimeField(allow_null=True)
    allowed_actions = serializers.SerializerMethodField()

    def get_name(self, service) -> str | None:
        """The CF service instance's name, or null until preflight learnt it."""
        return service.name or None

    def get_foundation_name(self, service) -> str:
        return foundations.name_of(service.foundation)

    def get_temporary_url(self, service) -> str | None:
        return service.temporary_url_live or None

    def get_allowed_actions(self, service) -> list[str]:
        user = self.context["request"].user
        return [str(action) for action in service_actions(user, service.request, service)]


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


class RequestCreateSerializer(serializers.Serializer):
    # The limits are the settings' (MAX_*), so the schema states what intake enforces.
    service_urls = serializers.ListField(
        child=serializers.CharField(
            allow_blank=True, trim_whitespace=False, max_length=intake.MAX_URL_LENGTH
        ),
        max_length=settings.MAX_SERVICES_PER_REQUEST,
        error_messages={"max_length": "A request may name at most {max_length} services."},
    )
    plan = serializers.ChoiceField(choices=list(PLAN_LABELS.items()), default=Plan.TEST_FIRST)
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


class ActionSerializer(ReasonSerializer):
    trigger_at = serializers.DateTimeField(required=False, allow_null=True, default=None)
    start_step2_on_confirmation = serializers.BooleanField(required=False, allow_null=True, default=None)


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
