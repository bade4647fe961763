from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("upgrades", "0011_service_plans_and_other_contacts"),
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
