"""Reads written once (jweboffice/statements.py): the same instances as the ORM's select_related, in one query."""

from datetime import datetime

import pytest
from django.db import models

from auth_enforcement.models import Registration
from jweboffice.contracts.backends import USER_WITH_CUSTOMER
from jweboffice.contracts.models import User
from jweboffice.statements import JoinedRead

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
