"""Request bodies the API reads, bounded like Django's own forms.

DRF's JSON and form parsers read the whole body whatever its size (Django's DATA_UPLOAD_MAX_MEMORY_SIZE
guards only `request.body` and `request.POST`), and JSON nested deeper than Python's recursion limit
raises RecursionError. Here a body past the limit is RequestDataTooBig (a 413, see errors.py) and JSON
nested too deeply is a parse error (a 400). Multipart bodies are bounded by Django's parser already.
"""

import io

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from rest_framework import parsers
from rest_framework.exceptions import ParseError


def bounded(stream):
    """The body as a stream, read no further than DATA_UPLOAD_MAX_MEMORY_SIZE allows."""
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    if limit is None:
        return stream
    body = stream.read(limit + 1)
    if len(body) > limit:
        raise RequestDataTooBig("Request body exceeded settings.DATA_UPLOAD_MAX_MEMORY_SIZE.")
    return io.BytesIO(body)


class JSONParser(parsers.JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        try:
            return super().parse(bounded(stream), media_type, parser_context)
        except RecursionError:
            raise ParseError("JSON parse error - nested too deeply.") from None


class FormParser(parsers.FormParser):
    def parse(self, stream, media_type=None, parser_context=None):
        return super().parse(bounded(stream), media_type, parser_context)
