"""The timeline's milestones (2.1: the original route on the new app; 2.2: the old app unmapped)."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("upgrades", "0012_fleet"),
    ]

    operations = [
        migrations.AlterField(
            model_name="event",
            name="kind",
            field=models.CharField(
                choices=[
                    ("submitted", "Submitted"),
                    ("transition", "State change"),
                    ("comment", "Comment"),
                    ("note", "Note"),
                    ("milestone", "Milestone"),
                ],
                max_length=16,
            ),
        ),
    ]
