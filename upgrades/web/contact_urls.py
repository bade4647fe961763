"""Pages for contacts without an account (signed links, no login) and contact management (login)."""

from django.urls import path

from upgrades.web import contact_views

urlpatterns = [
    path("manage/<int:request_id>/add/", contact_views.add_contact, name="contact-add"),
    path(
        "manage/<int:request_id>/remove/<int:contact_id>/",
        contact_views.remove_contact,
        name="contact-remove",
    ),
    path("<str:token>/", contact_views.status, name="contact-status"),
    path("<str:token>/live/", contact_views.status_live, name="contact-live"),
    path("<str:token>/confirm/<int:service_id>/", contact_views.confirm, name="contact-confirm"),
    path("<str:token>/report/<int:service_id>/", contact_views.report_problem, name="contact-report"),
    path("<str:token>/unsubscribe/", contact_views.unsubscribe, name="contact-unsubscribe"),
]
