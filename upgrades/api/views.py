"""One API view per endpoint; each parses, calls one service or selector, and serializes."""

from drf_spectacular.utils import extend_schema
from rest_framework import generics, status
from rest_framework.exceptions import NotFound
from rest_framework.response import Response
from rest_framework.views import APIView

from upgrades import actions, selectors
from upgrades.api.serializers import (
    ActionSerializer,
    EventSerializer,
    ReasonSerializer,
    RequestActionResultSerializer,
    RequestCreateSerializer,
    RequestFilterSerializer,
    RequestSerializer,
    ServiceSerializer,
)
from upgrades.workflow import Action, Plan


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
    )
    def get(self, request):
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(self.get_serializer(page, many=True).data)

    @extend_schema(request=RequestCreateSerializer, responses={201: RequestSerializer})
    def post(self, request):
        incoming = RequestCreateSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        data = incoming.validated_data
        created = actions.submit_request(
            requester=request.user,
            services=data["service_urls"],
            plan=Plan(data["plan"]),
            release=data["release"],
            contacts=data["contacts"],
            notes=data["notes"],
        )
        body = RequestSerializer(
            selectors.get_request(request.user, created.pk), context={"request": request}
        )
        return Response(body.data, status=status.HTTP_201_CREATED)


class RequestDetail(APIView):
    @extend_schema(responses=RequestSerializer)
    def get(self, request, request_id: int):
        found = selectors.get_request(request.user, request_id)
        return Response(RequestSerializer(found, context={"request": request}).data)


class RequestEvents(generics.GenericAPIView):
    serializer_class = EventSerializer

    def get(self, request, request_id: int):
        found = selectors.get_request(request.user, request_id)
        page = self.paginate_queryset(selectors.timeline(found))
        return self.get_paginated_response(self.get_serializer(page, many=True).data)


class RequestAction(APIView):
    """POST /api/requests/{id}/{approve|reject|cancel|confirm}/ with an optional (or required) reason.

    Approve may also carry `trigger_at` (schedule Step 1) and `start_step2_on_confirmation`.
    """

    workflow_action: Action | None = None

    @extend_schema(request=ActionSerializer, responses=RequestActionResultSerializer)
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
        )
        updated = selectors.get_request(request.user, request_id)
        body = RequestSerializer(updated, context={"request": request}).data
        # Services the action did not apply to, and why (e.g. cancelling leaves a running step alone).
        body["left_as_they_were"] = [
            {"id": service.pk, "zone_id": service.zone_id, "state": service.state, "reason": why}
            for service, why in outcome.left
        ]
        return Response(body)


class ServiceAction(APIView):
    """POST /api/services/{id}/{trigger|confirm|report-problem|retry|rollback|cancel}/."""

    workflow_action: Action | None = None

    @extend_schema(request=ReasonSerializer, responses=ServiceSerializer)
    def post(self, request, service_id: int):
        service = selectors.get_service(request.user, service_id)
        incoming = ReasonSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        actions.apply_service_action(
            service=service,
            action=self.workflow_action,
            actor=request.user,
            reason=incoming.validated_data["reason"],
        )
        updated = selectors.get_service(request.user, service_id)
        return Response(ServiceSerializer(updated, context={"request": request}).data)


class NoSuchEndpoint(APIView):
    """Any other path under /api/ (an id that is not a number, a misspelt action): a JSON 404 like the
    API's others, after authentication, so anonymous callers hear 401 here as everywhere."""

    schema = None

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        raise NotFound()
