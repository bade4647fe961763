"""Views of the project itself rather than of the upgrades app."""

from django.contrib.staticfiles import finders
from django.http import FileResponse, HttpResponse, JsonResponse
from django.views.decorators.cache import cache_control, never_cache
from django.views.decorators.http import require_safe
from django.views.defaults import page_not_found


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


def not_found(request, exception):
    """404: under `/api/` the API's JSON body (as its views answer it, 401 to an anonymous caller),
    elsewhere the page. A URL the API's patterns do not match (e.g. a request id that is not a number)
    is still an API answer."""
    if request.path.startswith("/api/"):
        signed_in = request.user.is_authenticated or "HTTP_AUTHORIZATION" in request.META
        if not signed_in:  # nothing of the API answers anonymous callers, not even which URLs exist
            refused = JsonResponse({"detail": "Authentication credentials were not provided."}, status=401)
            refused["WWW-Authenticate"] = "Token"
            return refused
        return JsonResponse({"detail": "Not found."}, status=404)
    return page_not_found(request, exception)
