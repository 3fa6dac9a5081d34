"""Wrong passwords in a row lock the account (security rule 4), and the lock answers like a wrong password (rule 26).

Without it, a user who has not registered a factor yet could be guessed into, and the guesser
would register their own factor.
"""

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.core import mail
from django.core.mail.backends.base import BaseEmailBackend
from django.utils import timezone

from auth_enforcement import notify
from auth_enforcement.models import AuthEvent
from jweboffice.contracts.models import User
from tests.auth_enforcement.test_login import INVALID_LOGIN, CountingArgon2Hasher, _error_page
from tests.conftest import PASSWORD, HttpsClient, log_in, register_totp, submit_code, totp_code

pytestmark = pytest.mark.usefixtures("english")

REASON = "本人から電話、生年月日で確認"


def guess(login_id: str, times: int, entrance: str = "fx") -> None:
    for attempt in range(times):
        response = log_in(HttpsClient(), entrance, login_id, f"wrong-password-{attempt}")
        assert INVALID_LOGIN in response.content.decode()
    notify.wait_for_background_mail()  # the lock's mail, sent off the request, is in the outbox


def logs_in(login_id: str = "taro01", entrance: str = "fx") -> bool:
    client = HttpsClient()
    response = log_in(client, entrance, login_id)
    return response.status_code == 302 and "_auth_user_id" in client.session


def locked(user: User) -> bool:
    user.refresh_from_db()
    return user.password_locked


def test_the_limit_of_wrong_passwords_locks_out_even_the_right_one(fx_user, settings):
    guess("taro01", settings.JWEB_PASSWORD_LOCK_AFTER)
    assert locked(fx_user)
    assert not logs_in()


def test_one_wrong_password_less_does_not_lock(fx_user, settings):
    guess("taro01", settings.JWEB_PASSWORD_LOCK_AFTER - 1)
    assert not locked(fx_user)
    assert logs_in()


def test_the_right_password_starts_the_count_again(fx_user, settings):
    guess("taro01", settings.JWEB_PASSWORD_LOCK_AFTER - 1)
    assert logs_in()
    fx_user.refresh_from_db()
    assert fx_user.password_failures == 0
    guess("taro01", settings.JWEB_PASSWORD_LOCK_AFTER - 1)
    assert logs_in()


def test_a_user_without_a_factor_cannot_be_guessed_into(fx_user, settings):
    assert not fx_user.registration_set.exists()
    guess("taro01", settings.JWEB_PASSWORD_LOCK_AFTER)
    client = HttpsClient()
    log_in(client, "fx", "taro01")
    assert "_auth_user_id" not in client.session
    assert client.get("/enroll/totp/").status_code == 302  # to the login page: nothing to register with


def test_a_locked_account_answers_like_a_wrong_password_after_one_hash(client, fx_user, settings):
    settings.JWEB_PASSWORD_LOCK_AFTER = 3
    guess("taro01", 3)
    settings.PASSWORD_HASHERS = ["tests.auth_enforcement.test_login.CountingArgon2Hasher"]
    fx_user.password = CountingArgon2Hasher().encode(PASSWORD, CountingArgon2Hasher().salt())
    User.objects.filter(pk=fx_user.pk).update(password=fx_user.password)
    CountingArgon2Hasher.operations = 0
    locked_answer = log_in(client, "fx", "taro01")
    assert CountingArgon2Hasher.operations == 1
    unknown_answer = log_in(HttpsClient(), "fx", "nobody01")
    assert _error_page(locked_answer, "taro01") == _error_page(unknown_answer, "nobody01")


def test_the_count_is_per_account_not_per_login_id(fx_user, domestic_user, settings):
    guess("taro01", settings.JWEB_PASSWORD_LOCK_AFTER, entrance="fx")
    assert locked(fx_user) and not locked(domestic_user)
    assert logs_in("taro01", entrance="domestic")


def test_the_lock_is_audited_once_and_mailed_to_the_user(fx_user, settings):
    mail.outbox.clear()
    guess("taro01", settings.JWEB_PASSWORD_LOCK_AFTER + 3)
    notify.wait_for_background_mail()
    event = AuthEvent.objects.get(kind=AuthEvent.Kind.PASSWORD_LOCKED)
    assert event.subject == fx_user and event.actor is None
    assert [message.to for message in mail.outbox] == [[fx_user.email]]
    assert "wrong-password" not in str(event.details) + mail.outbox[0].body  # never what was typed


def test_the_help_desk_sees_the_lock_in_the_queue_and_on_the_card(helpdesk, fx_user, settings):
    guess("taro01", settings.JWEB_PASSWORD_LOCK_AFTER)
    assert "taro01" in helpdesk.get("/helpdesk/").content.decode()
    card = helpdesk.get(f"/helpdesk/users/{fx_user.pk}/").content.decode()
    assert "login locked since" in card and "Unlock the login" in card


def test_the_help_desk_unlocks_with_a_reason_audited_and_mailed(helpdesk, helpdesk_user, fx_user, settings):
    guess("taro01", settings.JWEB_PASSWORD_LOCK_AFTER)
    refused = helpdesk.post(f"/helpdesk/users/{fx_user.pk}/unlock/", {"unlock-reason": " ok "})
    assert refused.status_code == 400 and locked(fx_user)
    mail.outbox.clear()
    response = helpdesk.post(f"/helpdesk/users/{fx_user.pk}/unlock/", {"unlock-reason": REASON}, follow=True)
    assert "The login was unlocked." in response.content.decode()
    assert not locked(fx_user) and fx_user.password_failures == 0
    event = AuthEvent.objects.get(kind=AuthEvent.Kind.PASSWORD_UNLOCKED)
    assert (event.actor, event.subject, event.details["reason"], event.details["via"]) == (
        helpdesk_user,
        fx_user,
        REASON,
        "helpdesk",
    )
    assert [message.to for message in mail.outbox] == [[fx_user.email]]
    assert logs_in()
    assert "taro01" not in helpdesk.get("/helpdesk/").content.decode()  # the queue item is settled


def test_the_service_manager_unlocks_their_staff(signed_in, fx_user, fx_contract, settings):
    staff = User.objects.create_user(
        "hanako02", PASSWORD, contract=fx_contract, role=User.Role.STAFF, name="佐藤 花子", email="h@example.jp"
    )
    guess("hanako02", settings.JWEB_PASSWORD_LOCK_AFTER)
    assert "login locked (passwords)" in signed_in.get("/manager/").content.decode()
    assert "Unlock the login" in signed_in.get(f"/manager/users/{staff.pk}/").content.decode()
    response = signed_in.post(f"/manager/users/{staff.pk}/unlock/", {"unlock-reason": REASON}, follow=True)
    assert f"The login of {staff.name} was unlocked." in response.content.decode()
    assert not locked(staff)
    assert AuthEvent.objects.get(kind=AuthEvent.Kind.PASSWORD_UNLOCKED).details["via"] == "service_manager"
    assert logs_in("hanako02")


def test_unlocking_an_unlocked_login_changes_nothing(signed_in, fx_user, fx_contract):
    staff = User.objects.create_user("hanako02", PASSWORD, contract=fx_contract, role=User.Role.STAFF, name="x")
    register_totp(staff)
    response = signed_in.post(f"/manager/users/{staff.pk}/unlock/", {"unlock-reason": REASON}, follow=True)
    assert "Nothing is locked for x: nothing was changed." in response.content.decode()
    assert not AuthEvent.objects.filter(kind__in=["password_unlocked", "unlocked"]).exists()


def test_a_bank_officer_unlocks_in_the_admin(officer, fx_user, settings):
    guess("taro01", settings.JWEB_PASSWORD_LOCK_AFTER)
    officer.post(
        "/admin/contracts/user/",
        {"action": "unlock_factor", ACTION_CHECKBOX_NAME: [fx_user.pk], "index": 0, "apply": 1, "reason": REASON},
    )
    assert not locked(fx_user)
    assert AuthEvent.objects.get(kind=AuthEvent.Kind.PASSWORD_UNLOCKED).details["via"] == "admin"


def test_the_lock_is_told_in_japanese_by_default(helpdesk, fx_user, settings):
    guess("taro01", settings.JWEB_PASSWORD_LOCK_AFTER)
    settings.LANGUAGE_CODE = "ja"
    card = helpdesk.get(f"/helpdesk/users/{fx_user.pk}/", HTTP_ACCEPT_LANGUAGE="ja").content.decode()
    assert "からログインをロック中（パスワードの連続誤り）" in card and "ログインのロックを解除する" in card


class BrokenMailServer(BaseEmailBackend):
    def send_messages(self, email_messages):
        raise ConnectionRefusedError("the mail server is down")


def test_the_request_that_locks_looks_like_any_other_wrong_password(client, fx_user, settings):
    # Its mail goes off the request: no wait for the mail server, no error page when it is down.
    settings.EMAIL_BACKEND = f"{__name__}.BrokenMailServer"
    answers = [
        (response.status_code, _error_page(response, "taro01"))
        for response in (
            log_in(HttpsClient(), "fx", "taro01", "wrong") for _ in range(settings.JWEB_PASSWORD_LOCK_AFTER)
        )
    ]
    notify.wait_for_background_mail()
    assert locked(fx_user)
    unknown = log_in(HttpsClient(), "fx", "nobody01", "wrong")
    assert set(answers) == {(200, _error_page(unknown, "nobody01"))}


class LockedMeanwhileHasher(CountingArgon2Hasher):
    """The real hasher; while it works, guesses sent alongside lock the account."""

    def verify(self, password, encoded):
        User.objects.filter(login_id="taro01").update(password_failures=10, password_locked_at=timezone.now())
        return super().verify(password, encoded)


def test_guesses_sent_side_by_side_cannot_outrun_the_lock(client, fx_user, settings):
    settings.PASSWORD_HASHERS = [f"{__name__}.LockedMeanwhileHasher"]
    User.objects.filter(pk=fx_user.pk).update(password=LockedMeanwhileHasher().encode(PASSWORD, "saltsaltsalt1234"))
    response = log_in(client, "fx", "taro01")  # the right password, checked while the lock comes
    assert INVALID_LOGIN in response.content.decode() and "_auth_user_id" not in client.session
    assert locked(fx_user)  # and the lock stays
    assert not AuthEvent.objects.filter(kind=AuthEvent.Kind.PASSWORD_UNLOCKED).exists()


def test_a_lock_that_comes_between_password_and_code_stops_the_login(client, frozen, fx_user, settings):
    registration = register_totp(fx_user)
    log_in(client, "fx", "taro01")  # the password is accepted; the code step is shown
    guess("taro01", settings.JWEB_PASSWORD_LOCK_AFTER)  # meanwhile, guesses lock the account
    response = submit_code(client, "fx", totp_code(registration.authenticator))
    assert response.status_code == 302 and "_auth_user_id" not in client.session
    assert "The login could not be completed" in client.get(response["Location"]).content.decode()
    assert locked(fx_user)


def test_bank_staff_locks_show_in_the_admin_and_another_officer_lifts_them(officer, bank_staff, settings):
    guess(bank_staff.login_id, settings.JWEB_PASSWORD_LOCK_AFTER, entrance="bank")
    assert locked(bank_staff)
    listing = officer.get("/admin/contracts/user/", {"locked": "yes"}).content.decode()
    assert bank_staff.login_id in listing and "login locked since" in listing
    officer.post(
        "/admin/contracts/user/",
        {"action": "unlock_factor", ACTION_CHECKBOX_NAME: [bank_staff.pk], "index": 0, "apply": 1, "reason": REASON},
    )
    assert not locked(bank_staff)


def test_the_last_locked_officer_is_unlocked_from_the_server_shell(bank_admin, settings):
    from django.core.management import CommandError, call_command

    guess(bank_admin.login_id, settings.JWEB_PASSWORD_LOCK_AFTER, entrance="bank")
    with pytest.raises(CommandError):
        call_command("unlock_login", "bank", bank_admin.login_id, reason="ok")
    assert locked(bank_admin)
    call_command("unlock_login", "bank", bank_admin.login_id, reason="全管理者がロックされたため解除")
    assert not locked(bank_admin)
    event = AuthEvent.objects.get(kind=AuthEvent.Kind.PASSWORD_UNLOCKED)
    assert event.actor is None and event.details["via"] == "command"


def test_send_again_sends_nothing_once_the_password_locks(client, fx_user, push_factory, settings):
    from auth_enforcement.models import PushChallenge

    push_factory(fx_user)
    log_in(client, "fx", "taro01")  # the push step, one request sent
    guess("taro01", settings.JWEB_PASSWORD_LOCK_AFTER)
    response = client.post("/fx/login/", {"entrance_login_view-current_step": "token", "push_resend": "1"})
    assert response.status_code == 302 and PushChallenge.objects.count() == 1
