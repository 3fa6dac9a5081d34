"""The help desk's search goes through indexes on PostgreSQL (a million users must not mean a scan)."""

from __future__ import annotations

import pytest
from django.db import connection

from jweboffice.helpdesk import flows

pytestmark = pytest.mark.skipif(connection.vendor != "postgresql", reason="trigram indexes are PostgreSQL's")


@pytest.fixture
def no_seq_scan(db):
    # With a handful of rows the planner rightly scans; forbidding it shows whether an index *can* serve.
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")


@pytest.mark.parametrize("words", ["陽商", "abc", "しようじ"])
def test_company_name_and_kana_parts_use_the_trigram_indexes(no_seq_scan, words):
    plan = flows.matching_customers(words).explain()
    assert "customer_name_trgm" in plan and "customer_kana_trgm" in plan, plan


def test_exact_searches_use_btree_indexes(no_seq_scan):
    from auth_enforcement.models import Authenticator
    from jweboffice.contracts.models import Contract, User

    plans = [
        User.objects.filter(login_id="taro01").explain(),
        Contract.objects.filter(contract_number="F-0012345-01").explain(),
        Authenticator.objects.filter(serial="JWT123456789").explain(),
    ]
    assert all("Index" in plan for plan in plans), plans
