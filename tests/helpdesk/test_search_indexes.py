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


@pytest.mark.parametrize("words", ["陽商事", "abc", "しようじ"])
def test_company_name_and_kana_parts_use_the_trigram_indexes(no_seq_scan, words):
    plan = flows.matching_customers(words).explain()
    assert "customer_name_trgm" in plan and "customer_kana_trgm" in plan, plan


@pytest.mark.parametrize("words", ["陽商", "ab", "しよ"])
def test_two_character_parts_use_the_bigram_indexes(no_seq_scan, words):
    plan = flows.matching_customers(words).explain()
    assert "customer_name_bigrams" in plan and "customer_kana_bigrams" in plan, plan


def test_two_character_parts_find_what_a_scan_finds(customer, db):
    from jweboffice.contracts.models import Customer

    Customer.objects.create(name="ABC東京商事株式会社", kana="エービーシートウキヨウシヨウジ(カ", cif_number="7654321")
    for words in ["東京", "bc", "ウキ", "うき", "商事", "陽商", "(カ"]:
        scanned = Customer.objects.filter(name__icontains=words) | Customer.objects.filter(
            kana__contains=flows.to_katakana(words)
        )
        assert set(flows.matching_customers(words)) == set(scanned), words


def test_exact_searches_use_btree_indexes(no_seq_scan):
    from auth_enforcement.models import Authenticator
    from jweboffice.contracts.models import Contract, User

    plans = [
        User.objects.filter(login_id="taro01").explain(),
        Contract.objects.filter(contract_number="F-0012345-01").explain(),
        Authenticator.objects.filter(serial="JWT123456789").explain(),
    ]
    assert all("Index" in plan for plan in plans), plans
