"""A migration operation for PostgreSQL-only SQL (indexes SQLite does not have)."""

from django.db import migrations


class PostgreSQLOnly(migrations.RunSQL):
    """Run the SQL on PostgreSQL only; nothing on another database."""

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            super().database_forwards(app_label, schema_editor, from_state, to_state)

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            super().database_backwards(app_label, schema_editor, from_state, to_state)
