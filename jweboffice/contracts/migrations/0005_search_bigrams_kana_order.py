"""Indexes for the help desk's customer-first search pages (PostgreSQL): bigrams and the kana order.

pg_trgm finds no trigram in a two-character pattern, so 「東京」 or 「ワタ」 could only scan every
customer (a third of the company-name searches at 1,000,000 users, bench/helpdesk_search.py).
Each name's set of two-character substrings in a GIN index answers them: a two-character part
of a name is one of its bigrams.

A word that matches densely (株式会社, a frequent trade) fills a page among the first customers
in kana order: (kana, id) with the name included lets that walk read the index alone, about
1,000 entries in half a millisecond, and stop.
"""

from django.db import migrations

from jweboffice.contracts.migrations._postgresql import PostgreSQLOnly

BIGRAMS = """
CREATE FUNCTION jweb_bigrams(text) RETURNS text[] LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS
$$ SELECT coalesce(array_agg(DISTINCT substr($1, i, 2)), '{}') FROM generate_series(1, length($1) - 1) i $$
"""


class Migration(migrations.Migration):
    dependencies = [("contracts", "0004_search_trigrams")]

    operations = [
        PostgreSQLOnly(BIGRAMS, "DROP FUNCTION jweb_bigrams(text)"),
        # The expressions are those jweboffice.helpdesk.flows.matching_customers writes.
        PostgreSQLOnly(
            'CREATE INDEX customer_name_bigrams ON contracts_customer USING gin (jweb_bigrams(UPPER("name"::text)))',
            "DROP INDEX customer_name_bigrams",
        ),
        PostgreSQLOnly(
            'CREATE INDEX customer_kana_bigrams ON contracts_customer USING gin (jweb_bigrams("kana"::text))',
            "DROP INDEX customer_kana_bigrams",
        ),
        PostgreSQLOnly(
            'CREATE INDEX customer_kana_order ON contracts_customer ("kana", "id") INCLUDE ("name")',
            "DROP INDEX customer_kana_order",
        ),
        # Statistics on the bigram expressions now, so the planner estimates a two-character part
        # from its real frequency rather than from a default until autovacuum gets to the table.
        PostgreSQLOnly("ANALYZE contracts_customer", migrations.RunSQL.noop),
    ]
