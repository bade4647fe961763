"""The webhook subscriptions of the API: list, create (the secret in the 201 only), delete (200 with
the webhook as it was, as every other answer of the API has a JSON body)."""

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import generics, status
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from upgrades import subscriptions
from upgrades.api.serializers import field_errors
from upgrades.api.views import responses
from upgrades.api.webhook_serializers import (
    WebhookCreatedSerializer,
    WebhookCreateSerializer,
    WebhookSerializer,
)
from upgrades.models import Campaign, UpgradeRequest


class WebhookListCreate(generics.GenericAPIView):
    serializer_class = WebhookSerializer

    @extend_schema(
        operation_id="webhooks_list",
        responses=responses({200: WebhookSerializer(many=True)}, 401, (404, "No such page.")),
    )
    def get(self, request):
        page = self.paginate_queryset(subscriptions.listed(request.user))
        return self.get_paginated_response(self.get_serializer(page, many=True).data)

    @extend_schema(
        request=WebhookCreateSerializer,
        responses=responses(
            {201: WebhookCreatedSerializer},
            401,
            (403, "Not allowed to manage this request's, this campaign's or the portal's webhooks."),
            413,
            415,
            bad_input=field_errors("WebhookCreateError", WebhookCreateSerializer),
        ),
    )
    def post(self, request):
        incoming = WebhookCreateSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        data = incoming.validated_data
        hook, secret = subscriptions.subscribe(
            user=request.user,
            scope=_scope(request.user, data),
            url=data["url"],
            events=data["events"],
            format=data["format"],
        )
        listed = subscriptions.listed(request.user).get(pk=hook.pk)
        listed.secret = secret  # for this answer only: never stored
        return Response(WebhookCreatedSerializer(listed).data, status=status.HTTP_201_CREATED)


def _scope(user, data: dict) -> subscriptions.Scope:
    """The scope named in the body; a request or campaign the user may not see is bad input."""
    if "request" in data:
        found = UpgradeRequest.objects.visible_to(user).filter(pk=data["request"]).first()
        if found is None:
            raise ValidationError({"request": ["No such request."]})
        return subscriptions.Scope(request=found)
    if "campaign" in data:
        found = Campaign.objects.visible_to(user).filter(pk=data["campaign"]).first()
        if found is None:
            raise ValidationError({"campaign": ["No such campaign."]})
        return subscriptions.Scope(campaign=found)
    return subscriptions.Scope()


class WebhookDetail(APIView):
    @extend_schema(
        responses=responses(
            {200: OpenApiResponse(WebhookSerializer, description="Deleted; the webhook as it was.")},
            401,
            (403, "Not allowed to delete this webhook."),
            (404, "No such webhook, or not one this user may see."),
        )
    )
    def delete(self, request, webhook_id: int):
        found = subscriptions.listed(request.user).filter(pk=webhook_id).first()
        if found is None:
            raise NotFound()
        subscriptions.unsubscribe(user=request.user, webhook=found)
        return Response(WebhookSerializer(found).data)
