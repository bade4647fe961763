"""Domain exceptions mapped to HTTP: 403 not allowed, 409 wrong state, 400 bad input, 404 invisible,
413 a body too large. Every refusal has a JSON body: `{"detail": "..."}`, or for bad input the
messages of each field (`{"field": ["...", ...]}`)."""

from django.conf import settings
from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent, TooManyFilesSent
from rest_framework import status
from rest_framework.exceptions import NotAuthenticated, ValidationError
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from upgrades import actions, workflow
from upgrades.models import Campaign, ServiceUpgrade, UpgradeRequest


def exception_handler(exc, context):
    if isinstance(exc, workflow.NotAllowed):
        return Response({"detail": str(exc)}, status=status.HTTP_403_FORBIDDEN)
    if isinstance(exc, workflow.InvalidTransition | actions.StaleState):
        return Response({"detail": str(exc)}, status=status.HTTP_409_CONFLICT)
    if isinstance(exc, actions.InputRefused):
        return Response({exc.field: [str(exc)]}, status=status.HTTP_400_BAD_REQUEST)
    if isinstance(exc, actions.IntakeRejected):
        body = {field: [str(p) for p in problems] for field, problems in exc.problems.items()}
        return Response(body, status=status.HTTP_400_BAD_REQUEST)
    if isinstance(exc, UpgradeRequest.DoesNotExist | ServiceUpgrade.DoesNotExist | Campaign.DoesNotExist):
        return Response({"detail": "Not found."}, status=status.HTTP_404_NOT_FOUND)
    if isinstance(exc, RequestDataTooBig):
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        return Response(
            {"detail": f"The request body is larger than {limit:,} bytes."},
            status=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE,
        )
    if isinstance(exc, TooManyFieldsSent | TooManyFilesSent):
        limit = settings.DATA_UPLOAD_MAX_NUMBER_FIELDS
        return Response(
            {"detail": f"The request has more than {limit:,} fields."}, status=status.HTTP_400_BAD_REQUEST
        )
    response = drf_exception_handler(exc, context)
    if isinstance(exc, ValidationError) and response is not None and isinstance(response.data, dict):
        response.data = {field: field_messages(detail) for field, detail in response.data.items()}
    if isinstance(exc, NotAuthenticated) and response is not None:
        response.status_code = status.HTTP_401_UNAUTHORIZED
        response["WWW-Authenticate"] = "Token"
    return response


def field_messages(detail) -> list[str]:
    """A field's messages as one list: those about an item of a list field (DRF keys them by index)
    name its line, as intake's own messages do."""
    if isinstance(detail, dict):
        return [
            f"{f'Line {index + 1}' if isinstance(index, int) else index}: {message}"
            for index, messages in detail.items()
            for message in field_messages(messages)
        ]
    if isinstance(detail, list):
        return [message for item in detail for message in field_messages(item)]
    return [str(detail)]
