"""The EC service's name (its CF service instance's), learnt at preflight, and searchable in the queue.

The queue's search matches it as a case-insensitive substring, as it matches zone ID, URL and
foundation (migration 0007): a trigram index where PostgreSQL has pg_trgm, a scan otherwise.
"""

import logging

from django.db import DatabaseError, migrations, models, transaction

log = logging.getLogger(__name__)


def create_search_index(apps, schema_editor):
    connection = schema_editor.connection
    if connection.vendor != "postgresql":
        return
    try:
        with transaction.atomic(using=connection.alias), connection.cursor() as cursor:
            cursor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    except DatabaseError as error:
        log.warning("pg_trgm is not available (%s): the queue's search scans the services", error)
        return
    with connection.cursor() as cursor:
        # Django's icontains compares UPPER(column::text): the index holds the same expression.
        cursor.execute(
            "CREATE INDEX IF NOT EXISTS service_name_trgm ON upgrades_serviceupgrade "
            "USING gin (UPPER(name::text) gin_trgm_ops)"
        )


def drop_search_index(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    with schema_editor.connection.cursor() as cursor:
        cursor.execute("DROP INDEX IF EXISTS service_name_trgm")


class Migration(migrations.Migration):
    dependencies = [("upgrades", "0009_event_note_kind")]

    operations = [
        migrations.AddField(
            model_name="serviceupgrade",
            name="name",
            field=models.CharField(blank=True, max_length=255),
        ),
        migrations.RunPython(create_search_index, drop_search_index),
    ]
