"""Trigram indexes for the help desk's partial search on company name and kana (PostgreSQL).

A bank with a million users must find 「トウキヨウ」 inside a kana name through an index, not a
scan (issue 6). pg_trgm is a trusted extension: the database owner may enable it. SQLite,
the demo's embedded database, has no such index and searches by scanning its few rows.
"""

from django.db import migrations

from jweboffice.contracts.migrations._postgresql import PostgreSQLOnly


class Migration(migrations.Migration):
    dependencies = [("contracts", "0003_session_epoch")]

    operations = [
        PostgreSQLOnly("CREATE EXTENSION IF NOT EXISTS pg_trgm", migrations.RunSQL.noop),
        # The expressions are those Django writes for name__icontains and kana__contains.
        PostgreSQLOnly(
            'CREATE INDEX customer_name_trgm ON contracts_customer USING gin ((UPPER("name"::text)) gin_trgm_ops)',
            "DROP INDEX customer_name_trgm",
        ),
        PostgreSQLOnly(
            'CREATE INDEX customer_kana_trgm ON contracts_customer USING gin (("kana"::text) gin_trgm_ops)',
            "DROP INDEX customer_kana_trgm",
        ),
    ]
