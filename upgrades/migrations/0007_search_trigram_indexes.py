"""Trigram indexes for the queue's search (a case-insensitive substring of zone ID, URL or foundation).

PostgreSQL only, and only where the pg_trgm extension may be created (it is a trusted extension:
the database owner may). Without it the search still works, by scanning the services.
"""

import logging

from django.db import DatabaseError, migrations, transaction

log = logging.getLogger(__name__)
COLUMNS = ("zone_id", "url", "foundation")


def create(apps, schema_editor):
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
        for column in COLUMNS:
            # Django's icontains compares UPPER(column::text): the index holds the same expression.
            cursor.execute(
                f"CREATE INDEX IF NOT EXISTS service_{column}_trgm ON upgrades_serviceupgrade "
                f"USING gin (UPPER({column}::text) gin_trgm_ops)"
            )


def drop(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    with schema_editor.connection.cursor() as cursor:
        for column in COLUMNS:
            cursor.execute(f"DROP INDEX IF EXISTS service_{column}_trgm")


class Migration(migrations.Migration):
    dependencies = [("upgrades", "0006_home_list_indexes")]

    operations = [migrations.RunPython(create, drop)]
