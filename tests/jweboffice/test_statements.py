"""Reads written once (jweboffice/statements.py): the same instances as the ORM's select_related, in one query."""

from datetime import datetime

import pytest
from django.db import DatabaseError, connection, connections, models, transaction
from django.test.utils import CaptureQueriesContext

from auth_enforcement.models import Registration
from auth_enforcement.views import ACTIVE_REGISTRATION
from jweboffice.contracts.backends import USER_WITH_CUSTOMER
from jweboffice.contracts.models import User
from jweboffice.statements import JoinedRead, execute, statement_of

pytestmark = pytest.mark.django_db


def values(instance: models.Model) -> dict:
    return {field.attname: getattr(instance, field.attname) for field in instance._meta.concrete_fields}


def test_a_user_reads_as_the_orm_reads_them_with_contract_and_customer(fx_user, django_assert_num_queries):
    expected = User.objects.select_related("contract__customer").get(pk=fx_user.pk)
    with django_assert_num_queries(1):
        user = USER_WITH_CUSTOMER.one("t0.id = %s", [fx_user.pk])
        assert user.contract.customer.name == expected.contract.customer.name
    assert values(user) == values(expected)
    assert values(user.contract) == values(expected.contract)
    assert values(user.contract.customer) == values(expected.contract.customer)
    assert isinstance(user.date_joined, datetime) and user.date_joined.tzinfo is not None
    assert user.is_active is True and user._state.adding is False and user._state.db == "default"


def test_a_user_without_a_contract_has_none_and_asks_nothing_more(helpdesk_user, django_assert_num_queries):
    with django_assert_num_queries(1):
        user = USER_WITH_CUSTOMER.one("t0.account_key = %s", [helpdesk_user.account_key])
        assert user.contract is None
    assert values(user) == values(User.objects.get(pk=helpdesk_user.pk))


def test_nothing_found_is_none(db):
    assert USER_WITH_CUSTOMER.one("t0.id = %s", [987654]) is None


def test_a_registration_reads_with_its_credential_and_user(fx_totp, django_assert_num_queries):
    read = JoinedRead(Registration, "authenticator", "user__contract__customer")
    expected = Registration.objects.select_related("authenticator", "user__contract__customer").get(pk=fx_totp.pk)
    with django_assert_num_queries(1):
        registration = read.one("t0.user_id = %s AND t0.revoked_at IS NULL", [fx_totp.user_id], order_by="t0.id")
        assert registration.user.contract.customer.pk == expected.user.contract.customer.pk
    assert values(registration) == values(expected)
    assert values(registration.authenticator) == values(expected.authenticator)
    assert registration.authenticator.totp_secret == expected.authenticator.totp_secret  # the sealed seed opens
    assert values(registration.user) == values(expected.user)


# -- prepared once per connection (PostgreSQL) --------------------------------------------

on_postgresql = pytest.mark.skipif(connection.vendor != "postgresql", reason="prepared statements are PostgreSQL's")


def prepared_here() -> set[str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT name FROM pg_prepared_statements")
        return {name for (name,) in cursor.fetchall()}


def test_on_sqlite_the_statement_runs_as_it_is(db):
    if connection.vendor == "postgresql":
        pytest.skip("SQLite's path")
    with CaptureQueriesContext(connection) as queries:
        with connection.cursor() as cursor:
            execute(connection, cursor, "SELECT %s + %s", [2, 3])
            assert cursor.fetchone() == (5,)
    assert queries[0]["sql"].startswith("SELECT")


@on_postgresql
def test_a_statement_is_prepared_once_and_then_only_executed(db):
    sql = "SELECT %s::int * %s::int, 'jweb-test-once'"
    with CaptureQueriesContext(connection) as queries:
        with connection.cursor() as cursor:
            for factor in (2, 3):
                execute(connection, cursor, sql, [factor, 7])
                assert cursor.fetchone() == (factor * 7, "jweb-test-once")
    logged = [query["sql"] for query in queries]
    assert all(line.startswith("EXECUTE jweb_") for line in logged)  # the PREPARE is not a request's query
    assert len(logged) == 2 and len({line.split("(")[0] for line in logged}) == 1
    assert statement_of(logged[0]) == sql
    assert logged[0].split("(")[0].removeprefix("EXECUTE ") in prepared_here()


@on_postgresql
def test_a_statement_prepared_in_a_rolled_back_transaction_still_runs(db):
    sql = "SELECT %s::text || '-jweb-test-rollback'"
    try:
        with transaction.atomic():
            with connection.cursor() as cursor:
                execute(connection, cursor, sql, ["first"])
            raise RuntimeError("roll back")
    except RuntimeError:
        pass
    with connection.cursor() as cursor:
        execute(connection, cursor, sql, ["second"])
        assert cursor.fetchone() == ("second-jweb-test-rollback",)


@on_postgresql
def test_a_new_connection_prepares_again(db):
    sql = "SELECT %s::int + 1, 'jweb-test-reconnect'"
    with connection.cursor() as cursor:
        execute(connection, cursor, sql, [1])
        assert cursor.fetchone()[0] == 2
    other = connections.create_connection("default")  # as after CONN_MAX_AGE or a lost connection
    try:
        with other.cursor() as cursor:
            execute(other, cursor, sql, [41])
            assert cursor.fetchone()[0] == 42
    finally:
        other.close()


@on_postgresql
def test_the_login_reads_the_same_rows_prepared_as_plain(fx_totp):
    plain = Registration.objects.select_related("authenticator", "user__contract__customer").get(pk=fx_totp.pk)
    for _ in range(7):  # past PostgreSQL's five custom plans, onto its generic one
        registration = ACTIVE_REGISTRATION.one(
            "t0.user_id = %s AND t0.revoked_at IS NULL", [fx_totp.user_id], order_by="t0.id"
        )
        assert values(registration) == values(plain)
        assert values(registration.authenticator) == values(plain.authenticator)
        assert values(registration.user.contract.customer) == values(plain.user.contract.customer)


@on_postgresql
def test_a_statement_gone_stale_fails_once_and_is_prepared_afresh(db):
    with connection.cursor() as cursor:
        cursor.execute("CREATE TEMPORARY TABLE jweb_stale (word varchar(10))")
        cursor.execute("INSERT INTO jweb_stale VALUES ('kept')")
    sql = "SELECT word FROM jweb_stale WHERE word = %s"
    with connection.cursor() as cursor:
        execute(connection, cursor, sql, ["kept"])
        assert cursor.fetchone() == ("kept",)
        cursor.execute("ALTER TABLE jweb_stale ALTER word TYPE text")  # a migration, meanwhile
    with pytest.raises(DatabaseError, match="cached plan must not change result type"):
        with transaction.atomic(), connection.cursor() as cursor:
            execute(connection, cursor, sql, ["kept"])
    with connection.cursor() as cursor:
        execute(connection, cursor, sql, ["kept"])
        assert cursor.fetchone() == ("kept",)


@on_postgresql
def test_statements_dropped_under_the_connection_fail_once_and_are_prepared_afresh(db):
    sql = "SELECT %s::int * 2, 'jweb-test-discard'"
    with connection.cursor() as cursor:
        execute(connection, cursor, sql, [4])
        cursor.execute("DEALLOCATE ALL")  # what a pooler's DISCARD ALL does
    with pytest.raises(DatabaseError, match="does not exist"):
        with transaction.atomic(), connection.cursor() as cursor:
            execute(connection, cursor, sql, [5])
    with connection.cursor() as cursor:
        execute(connection, cursor, sql, [6])
        assert cursor.fetchone()[0] == 12
