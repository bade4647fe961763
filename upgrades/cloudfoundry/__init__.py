"""The Cloud Foundry v3 API client: the only code in the portal that speaks HTTP to CF."""

from upgrades.cloudfoundry.client import CFClient
from upgrades.cloudfoundry.errors import (
    BadRequest,
    CFError,
    Forbidden,
    NotFound,
    RateLimited,
    Transient,
    Unauthorized,
    UnexpectedResponse,
    Uniqueness,
    Unprocessable,
)
from upgrades.cloudfoundry.transport import CallRecord, forget_tokens

__all__ = [
    "BadRequest",
    "CFClient",
    "CFError",
    "CallRecord",
    "Forbidden",
    "NotFound",
    "RateLimited",
    "Transient",
    "Unauthorized",
    "UnexpectedResponse",
    "Uniqueness",
    "Unprocessable",
    "forget_tokens",
]
