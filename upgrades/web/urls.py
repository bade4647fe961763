from django.urls import path

from upgrades.web import (
    campaign_views,
    deadline_views,
    evidence_views,
    fleet_views,
    settings_views,
    views,
    webhook_views,
)

urlpatterns = [
    path("", views.home, name="home"),
    path("how-upgrades-work/", views.how_it_works, name="how-it-works"),
    path("requests/", views.my_requests, name="my-requests"),
    path("requests/new/", views.new_request, name="request-new"),
    path("requests/new/plans/", views.new_request_plans, name="request-new-plans"),
    path("requests/<int:request_id>/", views.request_detail, name="request-detail"),
    path("requests/<int:request_id>/live/", views.request_live, name="request-live"),
    path("requests/<int:request_id>/comment/", views.comment, name="request-comment"),
    path("requests/<int:request_id>/webhooks/", webhook_views.request_webhooks, name="request-webhooks"),
    path("requests/<int:request_id>/calls/", views.request_calls, name="request-calls"),
    path("requests/<int:request_id>/evidence/", evidence_views.evidence_page, name="request-evidence"),
    path(
        "requests/<int:request_id>/evidence.json", evidence_views.evidence_json, name="request-evidence-json"
    ),
    path(
        "requests/<int:request_id>/services/<int:service_id>/recheck/",
        views.service_recheck,
        name="service-recheck",
    ),
    path(
        "requests/<int:request_id>/services/<int:service_id>/extend-window/",
        deadline_views.extend_window,
        name="service-extend-window",
    ),
    path("leftovers/clean/", deadline_views.clean_leftovers, name="leftovers-clean"),
    path(
        "requests/<int:request_id>/services/<int:service_id>/<str:action>/",
        views.service_action,
        name="service-action",
    ),
    path("requests/<int:request_id>/start/<int:step>/", views.request_start_all, name="request-start"),
    path(
        "requests/<int:request_id>/<str:action>/",
        views.request_action,
        name="request-action",
    ),
    path("queue/", views.queue, name="queue"),
    path("fleet/", fleet_views.fleet_page, name="fleet"),
    path("fleet/refresh/", fleet_views.fleet_refresh, name="fleet-refresh"),
    path("fleet/contacts/import/", fleet_views.fleet_contacts_import, name="fleet-contacts-import"),
    path("fleet/<str:zone_id>/contacts/", fleet_views.fleet_contacts, name="fleet-contacts"),
    path("webhooks/", webhook_views.webhooks_page, name="webhooks"),
    path("webhooks/<int:webhook_id>/delete/", webhook_views.webhook_delete, name="webhook-delete"),
    path("settings/", settings_views.settings_page, name="settings"),
    path("settings/token/", settings_views.create_token, name="settings-token-create"),
    path("settings/token/revoke/", settings_views.revoke_token, name="settings-token-revoke"),
    path("campaigns/", campaign_views.campaign_list, name="campaign-list"),
    path("campaigns/new/", campaign_views.campaign_new, name="campaign-new"),
    path("campaigns/<int:campaign_id>/", campaign_views.campaign_detail, name="campaign-detail"),
    path("campaigns/<int:campaign_id>/webhooks/", webhook_views.campaign_webhooks, name="campaign-webhooks"),
    path("campaigns/<int:campaign_id>/live/", campaign_views.campaign_live, name="campaign-live"),
    path("campaigns/<int:campaign_id>/<str:action>/", campaign_views.campaign_action, name="campaign-action"),
]
