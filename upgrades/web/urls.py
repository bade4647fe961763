from django.urls import path

from upgrades.web import settings_views, views

urlpatterns = [
    path("", views.home, name="home"),
    path("how-upgrades-work/", views.how_it_works, name="how-it-works"),
    path("requests/", views.my_requests, name="my-requests"),
    path("requests/new/", views.new_request, name="request-new"),
    path("requests/<int:request_id>/", views.request_detail, name="request-detail"),
    path("requests/<int:request_id>/live/", views.request_live, name="request-live"),
    path("requests/<int:request_id>/comment/", views.comment, name="request-comment"),
    path(
        "requests/<int:request_id>/services/<int:service_id>/recheck/",
        views.service_recheck,
        name="service-recheck",
    ),
    path(
        "requests/<int:request_id>/services/<int:service_id>/<str:action>/",
        views.service_action,
        name="service-action",
    ),
    path(
        "requests/<int:request_id>/<str:action>/",
        views.request_action,
        name="request-action",
    ),
    path("queue/", views.queue, name="queue"),
    path("settings/", settings_views.settings_page, name="settings"),
    path("settings/token/", settings_views.create_token, name="settings-token-create"),
    path("settings/token/revoke/", settings_views.revoke_token, name="settings-token-revoke"),
]
