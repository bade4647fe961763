"""One API view per endpoint; each parses, calls one service or selector, and serializes."""

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import generics, status
from rest_framework.exceptions import NotFound, PermissionDenied, ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from upgrades import (
    actions,
    campaign_reads,
    campaigns,
    deadlines,
    evidence,
    fleet,
    identity,
    ownership,
    selectors,
)
from upgrades.api.serializers import (
    ActionSerializer,
    CampaignActionSerializer,
    CampaignCreateSerializer,
    CampaignSerializer,
    CampaignSummarySerializer,
    ErrorSerializer,
    EventSerializer,
    EvidencePackSerializer,
    ExtendWindowSerializer,
    FleetFilterSerializer,
    FleetServiceSerializer,
    ReasonSerializer,
    RequestActionResultSerializer,
    RequestCreateSerializer,
    RequestFilterSerializer,
    RequestSerializer,
    ServiceSerializer,
    StepSerializer,
    field_errors,
)
from upgrades.permissions import is_ec_team
from upgrades.workflow import Action, Plan

# What each refusal means (DESIGN §5); its body is ErrorSerializer's `{"detail": "..."}`.
REFUSALS = {
    401: "No credentials, or wrong ones.",
    403: "Not allowed for this user (checked before the state), or a session call without its CSRF token.",
    404: "No such request or service, or not one this user may see.",
    409: "Not allowed from the current state (for example approval before preflight has passed).",
    413: "The body is larger than the upload limit.",
    415: "The body is not JSON, form-encoded or multipart.",
}


def responses(ok: dict, *refusals: int | tuple[int, str], bad_input=None) -> dict:
    """The schema's responses of an endpoint: `ok`, a 400 with `bad_input`'s body, and `refusals`
    (a status, or a status and what it means here when REFUSALS does not say it)."""
    documented = dict(ok)
    if bad_input is not None:
        documented[400] = OpenApiResponse(bad_input, description="Bad input, with messages for each field.")
    for refusal in refusals:
        code, meaning = refusal if isinstance(refusal, tuple) else (refusal, REFUSALS[refusal])
        documented[code] = OpenApiResponse(ErrorSerializer, description=meaning)
    return documented


class RequestListCreate(generics.GenericAPIView):
    serializer_class = RequestSerializer

    def get_queryset(self):
        incoming = RequestFilterSerializer(data=self.request.query_params)
        incoming.is_valid(raise_exception=True)
        filters = selectors.QueueFilters(**incoming.validated_data)
        return selectors.filter_requests(selectors.requests_for(self.request.user), filters)

    @extend_schema(
        operation_id="requests_list",
        parameters=[RequestFilterSerializer],
        responses=responses(
            {200: RequestSerializer(many=True)},
            401,
            (404, "No such page."),
            bad_input=field_errors("RequestFilterError", RequestFilterSerializer),
        ),
    )
    def get(self, request):
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(self.get_serializer(page, many=True).data)

    @extend_schema(
        request=RequestCreateSerializer,
        responses=responses(
            {201: RequestSerializer},
            401,
            403,
            413,
            415,
            bad_input=field_errors("RequestCreateError", RequestCreateSerializer),
        ),
    )
    def post(self, request):
        must_own, token = identity.provider_access(request.user, request.session)
        incoming = RequestCreateSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        data = incoming.validated_data
        if must_own and request.auth is not None:
            # Authenticated by an API token (a session has no `auth`): there is no CF token to check with.
            raise ValidationError({incoming.services_field: [ownership.api_token_refusal()]})
        try:
            contacts = ownership.confirm(
                services=data["services"], contacts=data["contacts"], owner_token=token if must_own else None
            )
        except ownership.NotYours as refused:
            raise ValidationError({incoming.services_field: [str(p) for p in refused.problems]}) from None
        created = actions.submit_request(
            requester=request.user,
            services=data["services"],
            plan=Plan(data["plan"]),
            release=data["release"],
            contacts=contacts,
            notes=data["notes"],
        )
        body = RequestSerializer(
            selectors.get_request(request.user, created.pk), context={"request": request}
        )
        return Response(body.data, status=status.HTTP_201_CREATED)


class RequestDetail(APIView):
    @extend_schema(responses=responses({200: RequestSerializer}, 401, 404))
    def get(self, request, request_id: int):
        found = selectors.get_request(request.user, request_id)
        return Response(RequestSerializer(found, context={"request": request}).data)


class RequestEvents(generics.GenericAPIView):
    serializer_class = EventSerializer

    @extend_schema(responses=responses({200: EventSerializer(many=True)}, 401, 404))
    def get(self, request, request_id: int):
        found = selectors.get_request(request.user, request_id)
        page = self.paginate_queryset(selectors.timeline(found))
        return self.get_paginated_response(self.get_serializer(page, many=True).data)


class RequestEvidence(APIView):
    """The request's signed evidence pack (same visibility as the request)."""

    @extend_schema(responses=responses({200: EvidencePackSerializer}, 401, 404))
    def get(self, request, request_id: int):
        found = selectors.get_request(request.user, request_id)
        return Response(evidence.signed_pack(found))


class RequestAction(APIView):
    """POST /api/requests/{id}/{approve|reject|cancel|confirm}/ with an optional (or required) reason.

    Approve may also carry `trigger_at` (schedule Step 1), `start_step2_on_confirmation`, and the plans
    the caller saw (`plan_fingerprints` by service id, or one `fingerprint`): 409 when one changed since.
    """

    workflow_action: Action | None = None

    @extend_schema(
        request=ActionSerializer,
        responses=responses(
            {200: RequestActionResultSerializer},
            401,
            403,
            404,
            409,
            413,
            415,
            bad_input=field_errors("ActionError", ActionSerializer),
        ),
    )
    def post(self, request, request_id: int):
        found = selectors.get_request(request.user, request_id)
        incoming = ActionSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        data = incoming.validated_data
        outcome = actions.apply_request_action(
            request=found,
            action=self.workflow_action,
            actor=request.user,
            reason=data["reason"],
            trigger_at=data.get("trigger_at"),
            start_step2_on_confirmation=data.get("start_step2_on_confirmation"),
            plan_fingerprints=_plans_seen(found, data),
        )
        return Response(_outcome_body(request, request_id, outcome))


def _plans_seen(found, data: dict) -> dict[int, str] | None:
    """The plans the caller approves, by service id: `fingerprint` stands for every service."""
    if "fingerprint" in data:
        return {service.pk: data["fingerprint"] for service in found.services.all()}
    return data.get("plan_fingerprints")


def _outcome_body(request, request_id: int, outcome: actions.RequestOutcome) -> dict:
    """The request after a request-wide action, and the services the action did not apply to, and
    why (e.g. cancelling leaves a running step alone)."""
    updated = selectors.get_request(request.user, request_id)
    body = RequestSerializer(updated, context={"request": request}).data
    body["left_as_they_were"] = [
        {
            "id": service.pk,
            "name": service.name or None,
            "zone_id": service.zone_id,
            "state": service.state,
            "reason": why,
        }
        for service, why in outcome.left
    ]
    return body


class RequestTrigger(APIView):
    """POST /api/requests/{id}/trigger/ `{step: 1|2}`: start that step of every service that may
    start it now (EC team); 409 when none may."""

    @extend_schema(
        request=StepSerializer,
        responses=responses(
            {200: RequestActionResultSerializer},
            401,
            403,
            404,
            409,
            413,
            415,
            bad_input=field_errors("StepError", StepSerializer),
        ),
    )
    def post(self, request, request_id: int):
        found = selectors.get_request(request.user, request_id)
        incoming = StepSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        outcome = actions.trigger_all(request=found, step=incoming.validated_data["step"], actor=request.user)
        return Response(_outcome_body(request, request_id, outcome))


def _service_schema(body, error_name: str):
    """The schema of a POST on one service: `body` in, the updated service (or a refusal) out."""
    return extend_schema(
        request=body,
        responses=responses(
            {200: ServiceSerializer}, 401, 403, 404, 409, 413, 415, bad_input=field_errors(error_name, body)
        ),
    )


def _act_on_service(request, service_id: int, body, act) -> Response:
    """Parse `body`, call `act(service, validated data)`, answer with the service as it is now."""
    service = selectors.get_service(request.user, service_id)
    incoming = body(data=request.data)
    incoming.is_valid(raise_exception=True)
    act(service, incoming.validated_data)
    updated = selectors.get_service(request.user, service_id)
    return Response(ServiceSerializer(updated, context={"request": request}).data)


class ServiceAction(APIView):
    """POST /api/services/{id}/{trigger|confirm|report-problem|retry|rollback|restore|cancel}/."""

    workflow_action: Action | None = None

    @_service_schema(ReasonSerializer, "ReasonError")
    def post(self, request, service_id: int):
        def act(service, data):
            actions.apply_service_action(
                service=service, action=self.workflow_action, actor=request.user, reason=data["reason"]
            )

        return _act_on_service(request, service_id, ReasonSerializer, act)


class ServiceExtendWindow(APIView):
    """POST /api/services/{id}/extend-window/ `{hours?}`: the EC team gives the users more time to test."""

    @_service_schema(ExtendWindowSerializer, "ExtendWindowError")
    def post(self, request, service_id: int):
        def act(service, data):
            hours = data["hours"]
            deadlines.extend_window(
                service=service, actor=request.user, seconds=hours * 3600 if hours else None
            )

        return _act_on_service(request, service_id, ExtendWindowSerializer, act)


class NoSuchEndpoint(APIView):
    """Any other path under /api/ (an id that is not a number, a misspelt action): a JSON 404 like the
    API's others, after authentication, so anonymous callers hear 401 here as everywhere."""

    schema = None

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        raise NotFound()


def _ec_team_only(request) -> None:
    if not is_ec_team(request.user):
        raise PermissionDenied("The fleet and its campaigns are for the EC team.")


class FleetList(generics.GenericAPIView):
    serializer_class = FleetServiceSerializer

    @extend_schema(
        operation_id="fleet_list",
        parameters=[FleetFilterSerializer],
        responses=responses(
            {200: FleetServiceSerializer(many=True)},
            401,
            (403, "Not in the EC team."),
            (404, "No such page."),
            bad_input=field_errors("FleetFilterError", FleetFilterSerializer),
        ),
    )
    def get(self, request):
        _ec_team_only(request)
        incoming = FleetFilterSerializer(data=request.query_params)
        incoming.is_valid(raise_exception=True)
        found = fleet.services_for(request.user, fleet.FleetFilters(**incoming.validated_data))
        page = self.paginate_queryset(found)
        return self.get_paginated_response(self.get_serializer(page, many=True).data)


class FleetRefresh(APIView):
    @extend_schema(
        request=None,
        responses=responses(
            {202: OpenApiResponse(ErrorSerializer, description="The sync is queued.")},
            401,
            (403, "Not in the EC team."),
        ),
    )
    def post(self, request):
        _ec_team_only(request)
        fleet.refresh()
        return Response({"detail": "Every foundation is read again."}, status=status.HTTP_202_ACCEPTED)


# --- Campaigns (EC team only) --------------------------------------------------------------------


def campaign_body(request, campaign) -> dict:
    services = list(campaign_reads.services_of(campaign).prefetch_related("request__contacts"))
    progress = campaign_reads.progress(campaign)
    context = {
        "request": request,
        "services": services,
        "wave_members": campaign_reads.wave_members(services),
        "progress": progress,
        "allowed": campaign_reads.allowed(campaign, request.user, progress),
    }
    return CampaignSerializer(campaign, context=context).data


class CampaignListCreate(generics.GenericAPIView):
    serializer_class = CampaignSummarySerializer

    @extend_schema(
        operation_id="campaigns_list",
        responses=responses(
            {200: CampaignSummarySerializer(many=True)},
            401,
            (403, "Not in the EC team."),
            (404, "No such page."),
        ),
    )
    def get(self, request):
        _ec_team_only(request)
        page = self.paginate_queryset(campaign_reads.campaigns_for(request.user))
        return self.get_paginated_response(self.get_serializer(page, many=True).data)

    @extend_schema(
        request=CampaignCreateSerializer,
        responses=responses(
            {201: CampaignSerializer},
            401,
            (403, "Not in the EC team."),
            (409, "A service got an upgrade of its own while the campaign was being created."),
            413,
            415,
            bad_input=field_errors("CampaignCreateError", CampaignCreateSerializer),
        ),
    )
    def post(self, request):
        _ec_team_only(request)
        incoming = CampaignCreateSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        data = incoming.validated_data
        source = "zone_ids" if "zone_ids" in data else "service_urls"
        created = campaigns.create_campaign(
            creator=request.user,
            name=data["name"],
            release=data["release"],
            plan=Plan(data["plan"]),
            named=campaigns.named_services(data[source], source),
            waves=campaigns.Waves.of(data),
        )
        found = campaign_reads.get_campaign(request.user, created.pk)
        return Response(campaign_body(request, found), status=status.HTTP_201_CREATED)


class CampaignDetail(APIView):
    @extend_schema(responses=responses({200: CampaignSerializer}, 401, (403, "Not in the EC team."), 404))
    def get(self, request, campaign_id: int):
        _ec_team_only(request)
        return Response(campaign_body(request, campaign_reads.get_campaign(request.user, campaign_id)))


# The one body field each campaign action reads, if any.
_ACTION_BODY = {campaigns.CampaignAction.START: "start_at", campaigns.CampaignAction.ABORT: "running"}


class CampaignAction(APIView):
    """POST /api/campaigns/{id}/{approve|start|pause|resume|continue|abort|retry}/ (no body; start
    may carry `start_at`, abort `running`)."""

    campaign_action: campaigns.CampaignAction | None = None

    @extend_schema(
        request=CampaignActionSerializer,
        responses=responses(
            {200: CampaignSerializer},
            401,
            (403, "Not in the EC team, or approving one's own campaign."),
            404,
            409,
            413,
            415,
            bad_input=field_errors("CampaignActionError", CampaignActionSerializer),
        ),
    )
    def post(self, request, campaign_id: int):
        _ec_team_only(request)
        found = campaign_reads.get_campaign(request.user, campaign_id)
        given = {}
        if field := _ACTION_BODY.get(self.campaign_action):
            incoming = CampaignActionSerializer(data=request.data)
            incoming.is_valid(raise_exception=True)
            given[field] = incoming.validated_data[field]
        campaigns.act(campaign=found, action=self.campaign_action, actor=request.user, **given)
        return Response(campaign_body(request, campaign_reads.get_campaign(request.user, campaign_id)))
