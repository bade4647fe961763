from django.urls import path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from upgrades.api import views, webhook_views
from upgrades.campaigns import CampaignAction
from upgrades.workflow import REQUEST_ACTIONS, SERVICE_ACTIONS

urlpatterns = [
    path("requests/", views.RequestListCreate.as_view(), name="api-requests"),
    path("requests/<int:request_id>/", views.RequestDetail.as_view(), name="api-request"),
    path("requests/<int:request_id>/events/", views.RequestEvents.as_view(), name="api-request-events"),
    path("requests/<int:request_id>/evidence/", views.RequestEvidence.as_view(), name="api-request-evidence"),
    path("requests/<int:request_id>/trigger/", views.RequestTrigger.as_view(), name="api-request-trigger"),
    *[
        path(
            f"requests/<int:request_id>/{action}/",
            views.RequestAction.as_view(workflow_action=action),
            name=f"api-request-{action}",
        )
        for action in sorted(REQUEST_ACTIONS)
    ],
    *[
        path(
            f"services/<int:service_id>/{action}/",
            views.ServiceAction.as_view(workflow_action=action),
            name=f"api-service-{action}",
        )
        for action in sorted(SERVICE_ACTIONS)
    ],
    path(
        "services/<int:service_id>/extend-window/",
        views.ServiceExtendWindow.as_view(),
        name="api-service-extend-window",
    ),
    path("fleet/", views.FleetList.as_view(), name="api-fleet"),
    path("fleet/refresh/", views.FleetRefresh.as_view(), name="api-fleet-refresh"),
    path("campaigns/", views.CampaignListCreate.as_view(), name="api-campaigns"),
    path("campaigns/<int:campaign_id>/", views.CampaignDetail.as_view(), name="api-campaign"),
    *[
        path(
            f"campaigns/<int:campaign_id>/{action}/",
            views.CampaignAction.as_view(campaign_action=action),
            name=f"api-campaign-{action}",
        )
        for action in CampaignAction
    ],
    path("webhooks/", webhook_views.WebhookListCreate.as_view(), name="api-webhooks"),
    path("webhooks/<int:webhook_id>/", webhook_views.WebhookDetail.as_view(), name="api-webhook"),
    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("docs/", SpectacularSwaggerSplitView.as_view(url_name="api-schema"), name="api-docs"),
    # Last: whatever else ends in a slash (paths without one are first redirected to it, as elsewhere).
    re_path(r"^(.*/)?$", views.NoSuchEndpoint.as_view()),
]
