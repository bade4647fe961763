"""Responses of the portal's own views are private to whoever asked: no shared cache may keep them."""

from django.utils.cache import patch_cache_control


def private_pages(get_response):
    def middleware(request):
        response = get_response(request)
        if not response.has_header("Cache-Control"):
            # Revalidated on every use: pages with an ETag then cost a 304, the rest a render.
            patch_cache_control(response, private=True, no_cache=True)
        return response

    return middleware
