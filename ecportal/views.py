"""Views of the project itself rather than of the upgrades app."""

from django.contrib.staticfiles import finders
from django.http import FileResponse, HttpResponse
from django.views.decorators.cache import cache_control, never_cache
from django.views.decorators.http import require_safe


@never_cache
@require_safe
def healthz(request):
    """Liveness for the platform's health check and load balancers: `ok` while the process answers.

    No login, no database: a database outage must not make the platform restart healthy web processes.
    """
    return HttpResponse("ok", content_type="text/plain")


@cache_control(public=True, max_age=86400)
@require_safe
def favicon(request):
    """`/favicon.ico`, which browsers ask for on their own (pages link `static/favicon.svg` too).
    Public, like the static files: the login page and the API ask for it as well."""
    return FileResponse(open(finders.find("favicon.ico"), "rb"), content_type="image/x-icon")  # noqa: SIM115 (FileResponse closes it)
