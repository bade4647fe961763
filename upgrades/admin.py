"""The EC team manages releases here; requests, services, timelines and CF calls are read-only and can
never be deleted (their state changes only through `upgrades.actions`)."""

from django.contrib import admin

from upgrades.models import CallLog, Contact, Delivery, Event, Release, ServiceUpgrade, UpgradeRequest


@admin.register(Release)
class ReleaseAdmin(admin.ModelAdmin):
    list_display = ["name", "docker_image", "recommended", "created_at"]
    list_editable = ["recommended"]


class ReadOnlyInline(admin.TabularInline):
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class ServiceInline(ReadOnlyInline):
    model = ServiceUpgrade
    fields = ["name", "zone_id", "domain", "foundation", "state", "step", "error"]


class ContactInline(ReadOnlyInline):
    model = Contact


class ReadOnlyAdmin(admin.ModelAdmin):
    """Rows only the portal writes: the admin shows them."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class AuditAdmin(ReadOnlyAdmin):
    """The record of what happened: shown, never changed or deleted. Deleting a request would cascade
    to its services, timeline and CF call log, and orphan the CF resources of a running upgrade."""

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(UpgradeRequest)
class UpgradeRequestAdmin(AuditAdmin):
    list_display = ["__str__", "requester", "plan", "release", "created_at"]
    list_filter = ["plan", "release"]
    search_fields = ["services__name", "services__zone_id", "requester__username"]
    inlines = [ServiceInline, ContactInline]


@admin.register(Event)
class EventAdmin(AuditAdmin):
    list_display = ["created_at", "request", "service", "kind", "actor_label", "from_state", "to_state"]
    list_filter = ["kind"]


@admin.register(CallLog)
class CallLogAdmin(AuditAdmin):
    list_display = ["created_at", "service", "step", "method", "path", "status", "duration_ms", "request_id"]
    list_filter = ["method", "status"]


@admin.register(Delivery)
class DeliveryAdmin(ReadOnlyAdmin):
    """The outbox, for the EC team to see what went out and what is stuck."""

    list_display = ["notification", "recipient", "channel", "status", "attempts", "last_error", "sent_at"]
    list_filter = ["status", "channel"]
    search_fields = ["recipient"]
