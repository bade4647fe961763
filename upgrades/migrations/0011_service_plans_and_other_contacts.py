"""A plan per service (and one service waiting for another's confirmation); contacts that are not
email addresses (a chat handle, a phone number), kept beside the mailed ones."""

from django.db import migrations, models
from django.db.models import OuterRef, Q, Subquery

import django.db.models.deletion


def copy_request_plans(apps, schema_editor):
    ServiceUpgrade = apps.get_model("upgrades", "ServiceUpgrade")
    UpgradeRequest = apps.get_model("upgrades", "UpgradeRequest")
    plans = UpgradeRequest.objects.filter(pk=OuterRef("request_id")).values("plan")
    ServiceUpgrade.objects.update(plan=Subquery(plans[:1]))


class Migration(migrations.Migration):
    dependencies = [("upgrades", "0010_service_name")]

    operations = [
        migrations.AddField(
            model_name="serviceupgrade",
            name="plan",
            field=models.CharField(
                choices=[("test_first", "Test after Step 1"), ("back_to_back", "Steps 1 and 2 back to back")],
                default="test_first",
                max_length=16,
            ),
        ),
        migrations.AddField(
            model_name="serviceupgrade",
            name="after",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.SET_NULL,
                related_name="followers",
                to="upgrades.serviceupgrade",
            ),
        ),
        migrations.RunPython(copy_request_plans, migrations.RunPython.noop),
        migrations.AlterField(
            model_name="contact",
            name="email",
            field=models.EmailField(blank=True, max_length=254),
        ),
        migrations.AddField(
            model_name="contact",
            name="other",
            field=models.CharField(blank=True, max_length=200),
        ),
        migrations.RemoveConstraint(model_name="contact", name="unique_contact_per_request"),
        migrations.AddConstraint(
            model_name="contact",
            constraint=models.UniqueConstraint(
                condition=~Q(email=""), fields=("request", "email"), name="unique_contact_per_request"
            ),
        ),
        migrations.AddConstraint(
            model_name="contact",
            constraint=models.UniqueConstraint(
                condition=~Q(other=""), fields=("request", "other"), name="unique_other_contact_per_request"
            ),
        ),
        migrations.AddConstraint(
            model_name="contact",
            constraint=models.CheckConstraint(
                condition=(Q(email="") & ~Q(other="")) | (~Q(email="") & Q(other="")),
                name="contact_is_email_or_other",
            ),
        ),
    ]
