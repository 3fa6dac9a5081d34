import pytest
from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError
from django.db import IntegrityError

from jweboffice.contracts.models import User
from tests.conftest import PASSWORD


def test_same_login_id_may_exist_in_both_editions(fx_user, domestic_user):
    assert fx_user.login_id == domestic_user.login_id
    assert fx_user.account_key == "fx:taro01"
    assert domestic_user.account_key == "domestic:taro01"


def test_login_id_is_unique_within_an_edition_in_the_database(fx_user, fx_contract):
    twin = User(login_id="taro01", contract=fx_contract, role=User.Role.STAFF, name="別人")
    twin.account_key = "fx:someone-else"  # even with a different internal key
    with pytest.raises(IntegrityError):
        super(User, twin).save()


def test_duplicate_login_id_in_an_edition_gets_a_form_error(fx_user, fx_contract):
    twin = User(login_id="TARO01", contract=fx_contract, role=User.Role.STAFF, name="別人")
    with pytest.raises(ValidationError) as error:
        twin.full_clean(exclude=["password", "account_key"])
    assert "login_id" in error.value.message_dict


def test_bank_staff_login_ids_are_unique(bank_staff):
    with pytest.raises(IntegrityError):
        User(login_id="admin01", name="x", account_key="other", is_staff=True).save_base()


def test_customer_user_must_have_a_role(fx_contract):
    with pytest.raises(IntegrityError):
        User(login_id="norole", contract=fx_contract, name="x", edition="fx", account_key="fx:norole").save_base()


def test_customer_user_can_never_be_admin_staff(fx_contract):
    with pytest.raises(IntegrityError):
        User.objects.create(login_id="sneaky", contract=fx_contract, role="staff", name="x", is_staff=True)


def test_edition_always_follows_the_contract(fx_user, domestic_contract):
    fx_user.contract = domestic_contract
    fx_user.save()
    fx_user.refresh_from_db()
    assert (fx_user.edition, fx_user.account_key) == ("domestic", "domestic:taro01")


def test_full_width_login_id_is_folded_to_ascii_lower_case(fx_contract):
    user = User.objects.create_user("ＴＡＲＯ０２", PASSWORD, contract=fx_contract, role="staff", name="x")
    assert user.login_id == "taro02"


def test_login_id_with_forbidden_characters_is_refused(fx_contract):
    with pytest.raises(ValidationError):
        User.objects.create_user("taro 01;--", PASSWORD, contract=fx_contract, role="staff", name="x")
    assert not User.objects.exists()


def test_password_is_hashed_with_argon2id(fx_user):
    assert fx_user.password.startswith("argon2$argon2id$")


@pytest.mark.django_db
def test_staff_groups_are_created_with_their_permissions():
    bank_admin = Group.objects.get(name="bank_admin")
    helpdesk = Group.objects.get(name="helpdesk")
    assert bank_admin.permissions.filter(codename="change_user").exists()
    codenames = set(helpdesk.permissions.values_list("codename", flat=True))
    assert "view_user" in codenames
    # The help desk looks in the admin and unlocks or resets only on its own page, with a reason.
    assert {code for code in codenames if not code.startswith("view_")} == {
        "unlock_authenticator",
        "reset_registration",
    }
    assert bank_admin.permissions.filter(codename="export_authevent").exists()
