from django.db import migrations, models


def preflight_reads_blue(apps, schema_editor):
    """`read_blue` became part of `preflight`: a service between the two takes preflight again (it
    changes nothing on CF, and now snapshots blue itself)."""
    ServiceUpgrade = apps.get_model("upgrades", "ServiceUpgrade")
    ServiceUpgrade.objects.filter(step="read_blue").update(step="preflight")


class Migration(migrations.Migration):
    dependencies = [
        ("upgrades", "0023_probes"),
    ]

    operations = [
        migrations.AddField(
            model_name="serviceupgrade",
            name="green_process_guid",
            field=models.CharField(blank=True, max_length=36),
        ),
        migrations.RunPython(preflight_reads_blue, migrations.RunPython.noop),
    ]
