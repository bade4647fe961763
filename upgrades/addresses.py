"""Which email addresses the portal mails: one rule, checked at intake and again by the sender, so an
address accepted on the form is one the sender will send to."""

import re

from django.core.exceptions import ValidationError
from django.core.validators import validate_email

MAX_LENGTH = 254  # RFC 5321's limit on a forward path, and the column's
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
# Legal in some addresses (quoted local parts, display names, lists) but never needed in a contact,
# and each can turn an address into markup or a second recipient in a header.
_REFUSED = frozenset(',<>"')


def problem(address: str) -> str:
    """Why `address` is not one the portal mails, in words; "" when it is fine."""
    if _CONTROL.search(address):
        return "line breaks and control characters are not allowed"
    if len(address) > MAX_LENGTH:
        return f"an address may be at most {MAX_LENGTH} characters long"
    if _REFUSED & set(address):
        return "quotes, commas and angle brackets are not allowed in an address"
    try:
        validate_email(address)
    except ValidationError:
        return "not a valid email address"
    return ""
