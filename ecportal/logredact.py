"""Contact-link tokens stay out of logs: whoever reads a log line must not gain a contact's link.

A token is the path segment after `/c/`. The gunicorn access log (`--logger-class
ecportal.logredact.AccessLogger`) and Django's request log (the `redact_contact_tokens` filter) both
write `/c/[redacted]/…` instead.
"""

import logging
import re

from gunicorn.glogging import Logger

_TOKEN = re.compile(r"(/c/)(?!manage/)[^/?\s\"]+")


def redact(text: str) -> str:
    return _TOKEN.sub(r"\1[redacted]", text)


class AccessLogger(Logger):
    """gunicorn's logger with every access-log atom redacted (request line, path, referrer, and the
    header and environment atoms a custom format may use)."""

    def atoms(self, resp, req, environ, request_time):
        atoms = super().atoms(resp, req, environ, request_time)
        return {key: redact(value) if isinstance(value, str) else value for key, value in atoms.items()}


class RedactContactTokens(logging.Filter):
    """For Django's loggers: "Not Found: /c/<token>/" and the like, with the token redacted."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if "/c/" in message:
            record.msg, record.args = redact(message), None
        return True
