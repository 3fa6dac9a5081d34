import re
from http.cookies import SimpleCookie

import pytest
from django.contrib.sessions.models import Session
from django.db import connection
from django.test.utils import CaptureQueriesContext

from jweboffice.contracts.hashers import Argon2idHasher
from jweboffice.contracts.models import Contract, User
from jweboffice.statements import statement_of
from tests.conftest import PASSWORD, log_in, log_in_with_totp, register_totp, submit_code, totp_code

INVALID_LOGIN = "The user ID or password is not correct"


pytestmark = pytest.mark.usefixtures("english")


class CountingArgon2Hasher(Argon2idHasher):
    """The real Argon2 hasher, counting the hashes it computes."""

    operations = 0

    def encode(self, password, salt):
        CountingArgon2Hasher.operations += 1
        return super().encode(password, salt)

    def verify(self, password, encoded):
        CountingArgon2Hasher.operations += 1
        return super().verify(password, encoded)


def test_fx_user_logs_in_at_the_fx_entrance(client, fx_user):
    response = log_in(client, "fx", "taro01")
    assert response.status_code == 302
    assert response["Location"] == "/home/"
    assert int(client.session["_auth_user_id"]) == fx_user.pk


def test_login_id_is_accepted_in_full_width_and_capitals(client, fx_user):
    assert log_in(client, "fx", "ＴＡＲＯ０１")["Location"] == "/home/"


def _error_page(response, typed_id: str) -> str:
    """Return the page without its per-request CSRF token and the ID the user typed."""
    return re.sub(r'value="[A-Za-z0-9]{64}"', "", response.content.decode()).replace(typed_id, "ID")


def test_unknown_id_wrong_password_and_inactive_user_get_the_same_answer(client, fx_user, fx_contract):
    User.objects.create_user("inactive1", PASSWORD, contract=fx_contract, role="staff", name="x", is_active=False)
    unknown = log_in(client, "fx", "nobody01")
    wrong = log_in(client, "fx", "taro01", "wrong-password-1")
    inactive = log_in(client, "fx", "inactive1")
    assert unknown.status_code == wrong.status_code == inactive.status_code == 200
    assert INVALID_LOGIN in unknown.content.decode()
    assert _error_page(unknown, "nobody01") == _error_page(wrong, "taro01") == _error_page(inactive, "inactive1")


@pytest.mark.parametrize(
    "login_id,password", [("nobody01", PASSWORD), ("taro01", "wrong-password-1"), ("idle01", PASSWORD)]
)
def test_every_failed_login_costs_exactly_one_password_hash(client, settings, fx_user, fx_contract, login_id, password):
    # Equal work is what makes the answers take about the same time (no enumeration by timing).
    User.objects.create_user("idle01", PASSWORD, contract=fx_contract, role="staff", name="x", is_active=False)
    settings.PASSWORD_HASHERS = [f"{__name__}.CountingArgon2Hasher"]
    fx_user.set_password(PASSWORD)
    fx_user.save()
    CountingArgon2Hasher.operations = 0
    log_in(client, "fx", login_id, password)
    assert CountingArgon2Hasher.operations == 1


def test_user_of_a_suspended_contract_cannot_log_in(client, fx_user, fx_contract):
    Contract.objects.filter(pk=fx_contract.pk).update(status=Contract.Status.SUSPENDED)
    response = log_in(client, "fx", "taro01")
    assert INVALID_LOGIN in response.content.decode()
    assert "_auth_user_id" not in client.session


@pytest.mark.parametrize("change", ["user deactivated", "contract suspended"])
def test_a_user_stopped_between_password_and_code_is_not_let_in(client, frozen, fx_user, fx_totp, fx_contract, change):
    log_in(client, "fx", "taro01")
    if change == "user deactivated":
        User.objects.filter(pk=fx_user.pk).update(is_active=False)
    else:
        Contract.objects.filter(pk=fx_contract.pk).update(status=Contract.Status.SUSPENDED)
    response = submit_code(client, "fx", totp_code(fx_totp.authenticator))
    assert response.status_code != 302
    assert "_auth_user_id" not in client.session


def test_the_code_step_reads_the_user_with_their_registration(client, frozen, fx_user, fx_totp):
    log_in(client, "fx", "taro01")
    with CaptureQueriesContext(connection) as queries:
        assert submit_code(client, "fx", totp_code(fx_totp.authenticator))["Location"] == "/home/"
    statements = [statement_of(q["sql"]) for q in queries]
    user_reads = [
        sql for sql in statements if sql.startswith("SELECT") and '"contracts_user"' in sql and '"password"' in sql
    ]
    assert len(user_reads) == 1
    assert '"auth_enforcement_registration"' in user_reads[0]


def test_the_code_page_carries_the_step_in_each_of_its_forms_and_repeats_no_id(client, fx_user, fx_totp):
    page = log_in(client, "fx", "taro01").content.decode()
    ids = re.findall(r'\sid="([^"]+)"', page)
    assert len(ids) == len(set(ids))
    own_forms = [form for form in re.findall(r"<form method=\"post\".*?</form>", page, re.S) if "action=" not in form]
    assert len(own_forms) == 2  # the code, and "start again"
    for form in own_forms:
        assert '<input type="hidden" name="entrance_login_view-current_step" value="token">' in form


def test_fx_id_cannot_log_in_at_the_domestic_entrance(client, fx_user):
    response = log_in(client, "domestic", "taro01")
    assert INVALID_LOGIN in response.content.decode()
    assert "_auth_user_id" not in client.session


def test_same_id_in_both_editions_logs_into_its_own_user(client, fx_user, domestic_user):
    domestic_user.set_password("domestic-only-pass-7")
    domestic_user.save()
    assert INVALID_LOGIN in log_in(client, "domestic", "taro01", PASSWORD).content.decode()
    log_in(client, "domestic", "taro01", "domestic-only-pass-7")
    assert int(client.session["_auth_user_id"]) == domestic_user.pk


def test_customer_cannot_log_in_at_the_bank_entrance(client, fx_user):
    assert INVALID_LOGIN in log_in(client, "bank", "taro01").content.decode()


def test_bank_staff_cannot_log_in_at_a_customer_entrance(client, bank_staff):
    assert INVALID_LOGIN in log_in(client, "fx", "admin01").content.decode()


def test_bank_staff_log_in_at_their_entrance_and_land_in_the_admin(client, bank_staff):
    registration = register_totp(bank_staff)
    response = log_in_with_totp(client, bank_staff, registration)
    assert response["Location"] == "/admin/"
    assert client.get("/admin/").status_code == 200


def test_admin_sends_anonymous_visitors_to_the_bank_entrance(client, db):
    response = client.get("/admin/contracts/user/")
    assert response.status_code == 302
    assert response["Location"].startswith("/bank/login/?next=/admin/contracts/user/")


def test_login_does_not_redirect_to_another_site(client, fx_user):
    response = client.post(
        "/fx/login/?next=https://evil.example/",
        {"entrance_login_view-current_step": "auth", "auth-username": "taro01", "auth-password": PASSWORD},
    )
    assert response["Location"] == "/home/"


@pytest.mark.parametrize("target,landing", [("/manager/", "/manager/"), ("https://evil.example/", "/home/")])
def test_the_login_takes_the_user_where_they_were_going_on_this_site(client, frozen, fx_user, target, landing):
    # As a browser does: the page's own form, posted back to the address it came from.
    address = f"/fx/login/?next={target}"
    page = client.get(address).content.decode()
    carried = re.search(r'id="login-form".*?name="next" value="([^"]*)"', page, re.S).group(1)
    assert carried == ("" if landing == "/home/" else target)
    registration = register_totp(fx_user)
    step = {"entrance_login_view-current_step": "auth", "auth-username": "taro01", "auth-password": PASSWORD}
    page = client.post(address, {**step, "next": carried}).content.decode()
    carried = re.search(r'id="login-form".*?name="next" value="([^"]*)"', page, re.S).group(1)
    code = {"entrance_login_view-current_step": "token", "token-otp_token": totp_code(registration.authenticator)}
    assert client.post(address, {**code, "next": carried})["Location"] == landing


def test_a_10kb_password_is_refused_with_a_message(client, fx_user):
    response = log_in(client, "fx", "taro01", "x" * 10_000)
    assert response.status_code == 200
    assert "at most 128 characters" in response.content.decode()
    assert "_auth_user_id" not in client.session


def test_empty_form_asks_for_both_fields(client, db):
    response = log_in(client, "fx", "", "")
    assert response.content.decode().count("This field is required.") == 2


def test_session_key_rotates_at_login(client, fx_user):
    log_in(client, "fx", "taro01", "wrong password")  # a failed attempt leaves a session
    before = client.session.session_key
    assert before is not None
    log_in(client, "fx", "taro01")
    assert client.session.session_key != before
    assert not Session.objects.filter(session_key=before).exists()


def test_logout_ends_the_session_on_the_server(client, signed_in):
    key = client.session.session_key
    stolen = SimpleCookie({"jweb_session": key})
    response = client.post("/logout/")
    assert response["Location"] == "/fx/login/"
    assert not Session.objects.filter(session_key=key).exists()
    client.cookies = stolen  # replaying the old cookie opens nothing
    assert client.get("/home/").status_code == 302


def test_logout_needs_a_post(client, signed_in):
    assert client.get("/logout/").status_code == 405
    assert client.get("/home/").status_code == 200


def test_session_cookie_is_secure_httponly_lax_and_not_persistent(client, fx_user):
    log_in(client, "fx", "taro01")
    cookie = client.cookies["jweb_session"]
    assert cookie["secure"] is True
    assert cookie["httponly"] is True
    assert cookie["samesite"] == "Lax"
    assert cookie["expires"] == "" and cookie["max-age"] == ""
