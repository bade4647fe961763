"""The EC team group, holding the `operate` permission; membership makes a user EC team."""

from django.db import migrations

EC_TEAM_GROUP = "EC team"


def create_group(apps, schema_editor):
    # Permissions are normally created after all migrations; this one is needed now, so it is made
    # here with the same content type and codename Django would give it.
    ContentType = apps.get_model("contenttypes", "ContentType")
    Permission = apps.get_model("auth", "Permission")
    Group = apps.get_model("auth", "Group")
    content_type, _ = ContentType.objects.get_or_create(app_label="upgrades", model="upgraderequest")
    operate, _ = Permission.objects.get_or_create(
        codename="operate", content_type=content_type, defaults={"name": "Operate upgrades (EC team)"}
    )
    group, _ = Group.objects.get_or_create(name=EC_TEAM_GROUP)
    group.permissions.add(operate)


def remove_group(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name=EC_TEAM_GROUP).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("upgrades", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(create_group, remove_group)]
