"""Domain exceptions mapped to HTTP: 403 not allowed, 409 wrong state, 400 bad input, 404 invisible."""

from rest_framework import status
from rest_framework.exceptions import NotAuthenticated
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from upgrades import actions, workflow
from upgrades.models import ServiceUpgrade, UpgradeRequest


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
    if isinstance(exc, UpgradeRequest.DoesNotExist | ServiceUpgrade.DoesNotExist):
        return Response({"detail": "Not found."}, status=status.HTTP_404_NOT_FOUND)
    response = drf_exception_handler(exc, context)
    if isinstance(exc, NotAuthenticated) and response is not None:
        response.status_code = status.HTTP_401_UNAUTHORIZED
        response["WWW-Authenticate"] = "Token"
    return response
