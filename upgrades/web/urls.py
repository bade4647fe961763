from django.urls import path

from upgrades.web import campaign_views, fleet_views, views

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
    path("fleet/", fleet_views.fleet_page, name="fleet"),
    path("fleet/refresh/", fleet_views.fleet_refresh, name="fleet-refresh"),
    path("campaigns/", campaign_views.campaign_list, name="campaign-list"),
    path("campaigns/new/", campaign_views.campaign_new, name="campaign-new"),
    path("campaigns/<int:campaign_id>/", campaign_views.campaign_detail, name="campaign-detail"),
    path("campaigns/<int:campaign_id>/live/", campaign_views.campaign_live, name="campaign-live"),
    path("campaigns/<int:campaign_id>/<str:action>/", campaign_views.campaign_action, name="campaign-action"),
]
