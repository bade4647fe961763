"""One API view per endpoint; each parses, calls one service or selector, and serializes."""

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics, status
from rest_framework.response import Response
from rest_framework.views import APIView

from upgrades import selectors, services
from upgrades.api.serializers import (
    EventSerializer,
    ReasonSerializer,
    RequestCreateSerializer,
    RequestSerializer,
)
from upgrades.workflow import Action, Plan


class RequestListCreate(generics.GenericAPIView):
    serializer_class = RequestSerializer

    def get_queryset(self):
        params = self.request.query_params
        filters = selectors.QueueFilters(
            state=params.get("state", ""), foundation=params.get("foundation", "")
        )
        queryset = selectors.filter_requests(selectors.requests_for(self.request.user), filters)
        if params.get("zone_id"):
            queryset = queryset.filter(services__zone_id=params["zone_id"].lower()).distinct()
        return queryset

    @extend_schema(
        operation_id="requests_list",
        parameters=[
            OpenApiParameter("state", str),
            OpenApiParameter("zone_id", str),
            OpenApiParameter("foundation", str),
        ],
    )
    def get(self, request):
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(self.get_serializer(page, many=True).data)

    @extend_schema(request=RequestCreateSerializer, responses={201: RequestSerializer})
    def post(self, request):
        incoming = RequestCreateSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        data = incoming.validated_data
        created = services.submit_request(
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
    """POST /api/requests/{id}/{approve|reject|cancel}/ with an optional (or required) reason."""

    workflow_action: Action | None = None

    @extend_schema(request=ReasonSerializer, responses=RequestSerializer)
    def post(self, request, request_id: int):
        found = selectors.get_request(request.user, request_id)
        incoming = ReasonSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        services.apply_request_action(
            request=found,
            action=self.workflow_action,
            actor=request.user,
            reason=incoming.validated_data["reason"],
        )
        updated = selectors.get_request(request.user, request_id)
        return Response(RequestSerializer(updated, context={"request": request}).data)
