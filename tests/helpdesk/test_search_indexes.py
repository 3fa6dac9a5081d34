"""The help desk's search goes through indexes on PostgreSQL (a million users must not mean a scan)."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from jweboffice import statements
from jweboffice.contracts.models import Contract, Customer, Edition
from jweboffice.helpdesk import flows
from jweboffice.statements import statement_of
from tests.conftest import add_users

pytestmark = pytest.mark.skipif(connection.vendor != "postgresql", reason="trigram indexes are PostgreSQL's")


@pytest.fixture
def no_seq_scan(db):
    # With a handful of rows the planner rightly scans; forbidding it shows whether an index *can* serve.
    # A prepared statement's generic plan, cached by an earlier test on this connection, would
    # ignore these settings: plan each statement for its values, now.
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off; SET LOCAL plan_cache_mode = force_custom_plan")


def plans(function, *args, reading: str | tuple[str, ...] = "") -> list[str]:
    """Return the plan of every statement the call runs (those whose SQL contains `reading`, or one of them).

    A prepared statement is matched by its text and explained as it ran (EXPLAIN EXECUTE).
    """
    readings = (reading,) if isinstance(reading, str) else reading
    with CaptureQueriesContext(connection) as captured:
        function(*args)
    with connection.cursor() as cursor:
        found = []
        for statement in captured.captured_queries:
            if any(part in statement_of(statement["sql"]) for part in readings):
                cursor.execute(f"EXPLAIN {statement['sql']}")
                found.append("\n".join(line for (line,) in cursor.fetchall()))
        return found


@pytest.mark.parametrize("words", ["陽商事", "abc", "しようじ"])
def test_company_name_and_kana_parts_use_the_trigram_indexes(no_seq_scan, words):
    plan = flows.matching_customers(words).explain()
    assert "customer_name_trgm" in plan and "customer_kana_trgm" in plan, plan


@pytest.mark.parametrize("words", ["陽商", "ab", "しよ"])
def test_two_character_parts_use_the_bigram_indexes(no_seq_scan, words):
    plan = flows.matching_customers(words).explain()
    assert "customer_name_bigrams" in plan and "customer_kana_bigrams" in plan, plan


def test_two_character_parts_find_what_a_scan_finds(customer, db):
    Customer.objects.create(name="ABC東京商事株式会社", kana="エービーシートウキヨウシヨウジ(カ", cif_number="7654321")
    for words in ["東京", "bc", "ウキ", "うき", "商事", "陽商", "(カ", "%"]:
        scanned = Customer.objects.filter(name__icontains=words) | Customer.objects.filter(
            kana__contains=flows.to_katakana(words)
        )
        assert set(flows.matching_customers(words)) == set(scanned), words


def test_the_walk_reads_the_kana_order_through_an_index_and_stops(no_seq_scan):
    with connection.cursor() as cursor:  # a few rows sort cheaply: ask whether the walk *can* go unsorted
        cursor.execute("SET LOCAL enable_sort = off; SET LOCAL enable_incremental_sort = off")
    (plan,) = plans(flows._walk_kana_order, "株式会社", 1000, 21)
    # The bound sits under the filter: however rare the word, at most 1,000 customers are read.
    walked = plan[plan.index("Subquery Scan on walked") :]
    assert "Filter:" in walked and "Limit" in walked.split("Filter:")[1], plan
    assert "Index Only Scan using customer_kana_order" in plan or "Index Scan using customer_kana_" in plan, plan
    assert "Bitmap" not in plan and "Sort" not in plan.split("Subquery Scan")[1], plan


@pytest.mark.parametrize(("words", "indexes"), [("東京商", "_trgm"), ("東京", "_bigrams")])
def test_the_matches_of_a_rare_word_come_from_the_trigram_or_bigram_indexes(no_seq_scan, words, indexes):
    with connection.cursor() as cursor:  # nor a walk of the whole kana order, cheapest in an empty table
        cursor.execute("SET LOCAL enable_indexscan = off; SET LOCAL enable_indexonlyscan = off")
    (plan,) = plans(flows._sort_matches, words, 21)
    assert f"customer_name{indexes}" in plan and f"customer_kana{indexes}" in plan, plan
    assert "customer_kana_order" not in plan and "customer_kana_idx" not in plan, plan


@pytest.fixture
def many_customers(db) -> None:
    for number in range(30):
        customer = Customer.objects.create(name=f"株式会社{number}", kana=f"カ){number}", cif_number=f"{number:07d}")
        contract = Contract.objects.create(customer=customer, edition=Edition.FX, contract_number=f"F-{number:07d}")
        add_users(contract, 2, start=number * 10)


@pytest.mark.parametrize("plans_kept", ["force_custom_plan", "force_generic_plan"])
@pytest.mark.parametrize("page", [1, 2])
def test_a_page_reads_its_customers_users_through_indexes(many_customers, no_seq_scan, page, plans_kept):
    # Only the users of the page's customers, each row found by index: never a join of every
    # matching user (at 1,000,000 users a planner's hash join of every user of 2,000 customers
    # took 2 s). With a handful of rows the planner rightly hashes: forbid it, as the scans.
    with connection.cursor() as cursor:
        cursor.execute(
            "SET LOCAL enable_hashjoin = off; SET LOCAL enable_mergejoin = off; SET LOCAL enable_material = off"
        )
        # Prepared, the statements may run on the plan PostgreSQL keeps for any ids (after five
        # runs): that one must go through the indexes too. Prepared afresh under these settings
        # (an earlier test's plan, made for a handful of rows, would be kept otherwise).
        cursor.execute(f"SET LOCAL plan_cache_mode = {plans_kept}")
    statements._prepared[connection.connection] = None  # as if gone stale: deallocated, prepared again
    # The users' numbers per customer (flows._SIZES_SQL), then the page's rows (flows._FOUND_SQL).
    users = plans(flows.search, "株式会社", page, reading="c.customer_id = ANY")
    assert len(users) == (1 if page == 1 else 2), users  # beyond page 1, their numbers first
    for plan in users:
        conditions = [line for line in plan.splitlines() if "Index Cond:" in line]
        assert any("customer_id = ANY" in line for line in conditions), plan
        assert any(f"Index Cond: (contract_id = {c}.id)" in plan for c in ("contracts_contract", "c")), plan
        assert "Seq Scan" not in plan, plan
    # The page's users' credentials, one index lookup per user, and only once the page is cut.
    assert "Index Cond: (user_id = u.id)" in users[-1], users[-1]
    assert "registration" not in subtree(users[-1], "->  Limit"), users[-1]


@pytest.mark.parametrize("plans_kept", ["force_custom_plan", "force_generic_plan"])
def test_a_page_from_its_next_link_starts_at_its_position_through_indexes(many_customers, no_seq_scan, plans_kept):
    # Where page 1 ended, then the customers from there in kana order and their users after it:
    # each through an index, and no customer before the position read.
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_hashjoin = off; SET LOCAL enable_mergejoin = off")
        cursor.execute("SET LOCAL enable_material = off; SET LOCAL enable_sort = off")
        cursor.execute("SET LOCAL enable_incremental_sort = off")  # a few rows sort cheaply: can it go unsorted?
        cursor.execute(f"SET LOCAL plan_cache_mode = {plans_kept}")
    statements._prepared[connection.connection] = None
    trail = (flows.search("株式会社").partial[-1].pk,)
    # (With 20 customers left, the walk runs to the end of the table, then on and a sort: the
    # first walk and the last statement, the page's users, are the ones to look at.)
    position, walk, *_, users = plans(flows.search, "株式会社", 2, trail, reading=("WHERE u.id =", "walked", "= ANY"))
    assert "Index Scan using contracts_user_pkey" in position, position
    walked = subtree(walk, "Subquery Scan on walked")
    assert "customer_kana_order" in walked and "Index Cond: (ROW(kana, id) >= ROW(" in walked, walk
    conditions = [line for line in users.splitlines() if "Index Cond:" in line]
    assert any("customer_id = ANY" in line for line in conditions), users
    # Only the users of the page's customers are compared with the position.
    assert "c.customer_id, (u.account_key)::text) > ROW(" in users and "Seq Scan" not in users, users


def subtree(plan: str, node: str) -> str:
    """Return the lines of `plan` from its first `node` to the end of that node's children."""
    lines = plan.splitlines()
    start = next(number for number, line in enumerate(lines) if node in line)
    depth = len(lines[start]) - len(lines[start].lstrip())
    end = next((n for n in range(start + 1, len(lines)) if len(lines[n]) - len(lines[n].lstrip()) <= depth), len(lines))
    return "\n".join(lines[start:end])


def test_exact_searches_use_btree_indexes(no_seq_scan):
    from auth_enforcement.models import Authenticator
    from jweboffice.contracts.models import User

    plans = [
        User.objects.filter(login_id="taro01").explain(),
        Contract.objects.filter(contract_number="F-0012345-01").explain(),
        Authenticator.objects.filter(serial="JWT123456789").explain(),
    ]
    assert all("Index" in plan for plan in plans), plans
