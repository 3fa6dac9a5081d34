"""Two-character searches through an index (PostgreSQL): 東京, 渡辺, ワタ.

pg_trgm finds no trigram in a two-character pattern, so 「東京」 scanned every customer
(95 ms at 1,000,000 users, bench/helpdesk_search.py). Each name's set of two-character
substrings in a GIN index answers it directly: a two-character part of a name is one of them.
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
        PostgreSQLOnly(
            'CREATE INDEX customer_name_bigrams ON contracts_customer USING gin (jweb_bigrams(UPPER("name"::text)))',
            "DROP INDEX customer_name_bigrams",
        ),
        PostgreSQLOnly(
            'CREATE INDEX customer_kana_bigrams ON contracts_customer USING gin (jweb_bigrams("kana"::text))',
            "DROP INDEX customer_kana_bigrams",
        ),
    ]
