"""The entrance backend's permission lookup: Django's answer, in one query."""

import pytest
from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.models import Group, Permission
from django.db import connection
from django.test.utils import CaptureQueriesContext

from jweboffice.contracts.backends import EntranceBackend
from jweboffice.contracts.models import User
from jweboffice.statements import statement_of
from tests.conftest import staff_member

pytestmark = pytest.mark.django_db


def fresh(user: User) -> User:
    return User.objects.get(pk=user.pk)  # no permission cache


@pytest.fixture
def desk_member() -> User:
    user = staff_member("desk-perm", "helpdesk")
    user.user_permissions.add(Permission.objects.get(codename="export_authevent"))  # one of their own too
    return user


def test_own_and_group_permissions_are_django_s(desk_member):
    assert EntranceBackend().get_all_permissions(fresh(desk_member)) == ModelBackend().get_all_permissions(
        fresh(desk_member)
    )
    assert "auth_enforcement.export_authevent" in EntranceBackend().get_all_permissions(fresh(desk_member))


def test_a_staff_page_asks_the_database_once_for_permissions(desk_member, django_assert_num_queries):
    user = fresh(desk_member)
    with django_assert_num_queries(1):
        assert user.has_perm("auth_enforcement.unlock_authenticator")  # from the group
        assert user.has_perm("auth_enforcement.export_authevent")  # their own
        assert not user.has_perm("contracts.delete_customer")


def test_a_group_taken_away_takes_its_permissions_with_it(desk_member):
    desk_member.groups.clear()
    permissions = EntranceBackend().get_all_permissions(fresh(desk_member))
    assert permissions == {"auth_enforcement.export_authevent"}


def test_a_superuser_has_every_permission(db):
    boss = User.objects.create_user("boss", None, is_superuser=True, is_staff=True, name="銀行 boss")
    assert len(EntranceBackend().get_all_permissions(boss)) == Permission.objects.count()


def test_an_inactive_user_has_none(desk_member):
    desk_member.is_active = False
    assert EntranceBackend().get_all_permissions(desk_member) == set()
    assert Group.objects.get(name="helpdesk").permissions.exists()  # the group still has them


@pytest.mark.skipif(connection.vendor != "postgresql", reason="prepared statements are PostgreSQL's")
def test_the_permissions_statement_is_prepared_once_per_connection(desk_member):
    # Planning its four tables cost three times what running it does: planned once, then executed.
    for _ in range(2):
        with CaptureQueriesContext(connection) as queries:
            permissions = EntranceBackend().get_all_permissions(fresh(desk_member))
        (statement,) = [
            query["sql"] for query in queries.captured_queries if "auth_permission" in statement_of(query["sql"])
        ]
        assert statement.startswith("EXECUTE jweb_"), statement
        assert "auth_enforcement.export_authevent" in permissions
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_prepared_statements WHERE statement LIKE '%%auth_permission%%'")
        assert cursor.fetchone() == (1,)
