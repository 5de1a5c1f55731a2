"""PostgreSQL: leave 15% of each customers page free, so updates of unindexed columns (the tier a run
mirrors, contact details) are HOT updates that touch no index. Applies to pages written from now on;
``VACUUM FULL customers_customer`` repacks an existing table (it locks the table while it runs)."""

from django.db import migrations


def _set(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("ALTER TABLE customers_customer SET (fillfactor = 85)")


def _reset(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("ALTER TABLE customers_customer RESET (fillfactor)")


class Migration(migrations.Migration):
    dependencies = [("customers", "0005_drop_covered_indexes")]

    operations = [migrations.RunPython(_set, _reset, elidable=True)]
