"""Views of the project itself rather than of the upgrades app."""

from django.http import HttpResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe


@never_cache
@require_safe
def healthz(request):
    """Liveness for the platform's health check and load balancers: `ok` while the process answers.

    No login, no database: a database outage must not make the platform restart healthy web processes.
    """
    return HttpResponse("ok", content_type="text/plain")
