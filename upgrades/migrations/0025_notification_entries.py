import django.db.models.deletion
from django.db import migrations, models


def entries_from_details(apps, schema_editor):
    """Each service snapshot of a notification's `details["services"]` becomes its entry (a snapshot of
    a service since deleted goes with it, as its entry would have)."""
    Notification = apps.get_model("upgrades", "Notification")
    NotificationEntry = apps.get_model("upgrades", "NotificationEntry")
    ServiceUpgrade = apps.get_model("upgrades", "ServiceUpgrade")
    for notification in Notification.objects.exclude(details={}).iterator():
        facts = notification.details.get("services", [])
        present = set(ServiceUpgrade.objects.filter(pk__in=[f["id"] for f in facts]).values_list("pk", flat=True))
        latest = {f["id"]: f for f in facts if f["id"] in present}  # one entry per service: its latest
        NotificationEntry.objects.bulk_create(
            NotificationEntry(notification=notification, service_id=id_, facts=fact) for id_, fact in latest.items()
        )


class Migration(migrations.Migration):
    dependencies = [
        ("upgrades", "0024_green_process_guid"),
    ]

    operations = [
        migrations.CreateModel(
            name="NotificationEntry",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("facts", models.JSONField()),
                (
                    "notification",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE, related_name="entries", to="upgrades.notification"
                    ),
                ),
                (
                    "service",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE, related_name="+", to="upgrades.serviceupgrade"
                    ),
                ),
            ],
            options={
                "ordering": ["id"],
                "constraints": [
                    models.UniqueConstraint(fields=("notification", "service"), name="one_entry_per_service")
                ],
            },
        ),
        migrations.RunPython(entries_from_details, migrations.RunPython.noop),
        migrations.RemoveField(model_name="notification", name="details"),
    ]
