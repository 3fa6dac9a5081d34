import threading
from datetime import timedelta

import pytest
from django.core.cache import cache
from django.db import IntegrityError, connection
from django.utils import timezone

from auth_enforcement.models import Authenticator, Registration
from tests.conftest import log_in, log_in_with_totp, register_totp, submit_code, totp_code

pytestmark = pytest.mark.usefixtures("english")


def logged_in(client) -> bool:
    return "_auth_user_id" in client.session


@pytest.mark.parametrize("offset", [-1, 0, 1])
def test_code_within_one_time_step_is_accepted(client, frozen, fx_user, fx_totp, offset):
    log_in(client, "fx", "taro01")
    response = submit_code(client, "fx", totp_code(fx_totp.authenticator, offset))
    assert response["Location"] == "/home/"
    assert logged_in(client)


@pytest.mark.parametrize("offset", [-2, 2])
def test_code_two_time_steps_away_is_refused(client, frozen, fx_user, fx_totp, offset):
    log_in(client, "fx", "taro01")
    response = submit_code(client, "fx", totp_code(fx_totp.authenticator, offset))
    assert response.status_code == 200
    assert "The one-time password is not correct" in response.content.decode()
    assert not logged_in(client)


def test_code_cannot_be_replayed(client, frozen, fx_user, fx_totp):
    code = totp_code(fx_totp.authenticator)
    log_in(client, "fx", "taro01")
    assert submit_code(client, "fx", code).status_code == 302
    client.post("/logout/")
    frozen.shift(timedelta(seconds=3))  # past django-otp's delay, not past the code's step
    log_in(client, "fx", "taro01")
    response = submit_code(client, "fx", code)
    assert response.status_code == 200
    assert not logged_in(client)


def test_code_older_than_the_last_accepted_one_is_refused(fx_totp, frozen):
    assert fx_totp.verify_token(totp_code(fx_totp.authenticator, 0))
    frozen.shift(timedelta(seconds=3))
    assert not fx_totp.verify_token(totp_code(fx_totp.authenticator, -1))


def test_code_cannot_be_replayed_in_the_other_edition(frozen, fx_totp, domestic_user):
    # One credential bound in both editions (the domestic link): the replay state is shared.
    domestic = Registration.objects.create(user=domestic_user, authenticator=fx_totp.authenticator)
    code = totp_code(fx_totp.authenticator)
    assert fx_totp.verify_token(code)
    frozen.shift(timedelta(seconds=3))
    assert not domestic.verify_token(code)


def test_full_width_digits_are_accepted(client, frozen, fx_user, fx_totp):
    code = totp_code(fx_totp.authenticator).translate(str.maketrans("0123456789", "０１２３４５６７８９"))
    log_in(client, "fx", "taro01")
    assert submit_code(client, "fx", code)["Location"] == "/home/"


@pytest.mark.parametrize(
    "bad,message",
    [
        ("12345", "6-digit"),
        ("1234567", "6-digit"),
        ("12a456", "6-digit"),
        ("123 456", "6-digit"),
        ("", "Enter the 6-digit one-time password"),
        ("9" * 10_000, "6-digit"),
    ],
)
def test_malformed_code_gets_a_message_and_changes_nothing(client, frozen, fx_user, fx_totp, bad, message):
    log_in(client, "fx", "taro01")
    response = submit_code(client, "fx", bad)
    assert response.status_code == 200
    assert message in response.content.decode()
    fx_totp.authenticator.refresh_from_db()
    assert fx_totp.authenticator.throttling_failure_count == 0
    assert not logged_in(client)


def test_session_key_rotates_after_the_second_factor_and_not_before(client, frozen, fx_user, fx_totp):
    client.get("/fx/login/")
    log_in(client, "fx", "taro01")
    half_way = client.session.session_key
    assert not logged_in(client)  # password alone logs nobody in
    submit_code(client, "fx", totp_code(fx_totp.authenticator))
    assert logged_in(client)
    assert client.session.session_key != half_way


def test_the_code_step_expires(client, settings, frozen, fx_user, fx_totp):
    log_in(client, "fx", "taro01")
    frozen.shift(timedelta(seconds=settings.TWO_FACTOR_LOGIN_TIMEOUT + 1))
    response = submit_code(client, "fx", totp_code(fx_totp.authenticator))
    assert "Your session has timed out" in response.content.decode()
    assert not logged_in(client)


def test_wrong_code_is_throttled_with_a_growing_delay(client, frozen, fx_user, fx_totp):
    log_in(client, "fx", "taro01")
    submit_code(client, "fx", "000000" if totp_code(fx_totp.authenticator) != "000000" else "111111")
    response = submit_code(client, "fx", totp_code(fx_totp.authenticator))
    assert "the next try must wait a little" in response.content.decode()
    frozen.shift(timedelta(seconds=2))
    assert submit_code(client, "fx", totp_code(fx_totp.authenticator))["Location"] == "/home/"


def wrong_code(authenticator: Authenticator) -> str:
    valid = {totp_code(authenticator, offset) for offset in (-1, 0, 1)}
    return next(c for c in ("000000", "111111", "222222", "333333") if c not in valid)


def test_100_wrong_codes_then_a_right_one_is_refused(settings, frozen, fx_totp):
    settings.JWEB_LOCK_AFTER_FAILURES = 100
    settings.JWEB_THROTTLE_FACTOR = 0  # no delay: only the count stands between 100 guesses
    for _ in range(100):
        assert not fx_totp.verify_token(wrong_code(fx_totp.authenticator))
    assert not fx_totp.verify_token(totp_code(fx_totp.authenticator))
    fx_totp.authenticator.refresh_from_db()
    assert fx_totp.authenticator.is_locked


def test_lock_follows_consecutive_failures_and_bank_staff_clear_it(client, settings, frozen, fx_user, fx_totp):
    settings.JWEB_LOCK_AFTER_FAILURES = 3
    for n in range(3):
        fx_totp.verify_token(wrong_code(fx_totp.authenticator))
        frozen.shift(timedelta(seconds=2**n + 1))
    log_in(client, "fx", "taro01")
    response = submit_code(client, "fx", totp_code(fx_totp.authenticator))
    assert "locked" in response.content.decode() and "0120-210-489" in response.content.decode()
    authenticator = Authenticator.objects.get(pk=fx_totp.authenticator_id)
    authenticator.unlock()
    assert submit_code(client, "fx", totp_code(fx_totp.authenticator))["Location"] == "/home/"


def test_lock_survives_a_lost_cache(settings, frozen, fx_totp):
    settings.JWEB_LOCK_AFTER_FAILURES = 1
    fx_totp.verify_token(wrong_code(fx_totp.authenticator))
    cache.clear()  # as a restart or a Redis flush would
    frozen.shift(timedelta(hours=1))
    registration = Registration.objects.get(pk=fx_totp.pk)
    assert not registration.verify_token(totp_code(registration.authenticator))


def test_secret_is_stored_as_ciphertext(fx_totp):
    secret = fx_totp.authenticator.totp_secret
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT secret_sealed FROM auth_enforcement_authenticator WHERE id = %s", [fx_totp.authenticator_id]
        )
        (stored,) = cursor.fetchone()
    assert secret not in stored
    assert stored.startswith("gAAAAA")  # a Fernet token
    assert len(secret) == 32  # base32 of 160 bits


def test_a_user_has_at_most_one_active_registration(fx_user, fx_totp):
    other = Authenticator.new_totp()
    with pytest.raises(IntegrityError):
        Registration.objects.create(user=fx_user, authenticator=other)


def test_revoked_registration_leaves_room_for_a_new_one(fx_user, fx_totp):
    fx_totp.revoked_at = timezone.now()
    fx_totp.save()
    assert register_totp(fx_user).pk


def test_provisioning_uri_names_the_issuer_and_the_login_id(fx_totp):
    uri = fx_totp.authenticator.provisioning_uri("taro01")
    assert uri.startswith("otpauth://totp/JWEBOFFICE:taro01?secret=")
    assert "issuer=JWEBOFFICE" in uri


@pytest.mark.skipif(connection.vendor != "postgresql", reason="row locks need PostgreSQL")
@pytest.mark.django_db(transaction=True)
def test_two_racing_submissions_of_one_code_let_exactly_one_in(fx_user):
    registration = register_totp(fx_user)
    code = totp_code(registration.authenticator)
    barrier = threading.Barrier(2)
    results = []

    def submit() -> None:
        mine = Registration.objects.get(pk=registration.pk)  # loaded without a lock, as two_factor does
        barrier.wait()
        results.append(mine.verify_token(code))
        connection.close()

    threads = [threading.Thread(target=submit) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(results) == [False, True]


def test_log_in_with_totp_helper_really_logs_in(client, fx_user, fx_totp):
    assert log_in_with_totp(client, fx_user, fx_totp)["Location"] == "/home/"


def test_bank_admin_unlocks_in_the_admin_and_it_is_audited(client, settings, frozen, bank_staff, fx_totp):
    from auth_enforcement.models import AuthEvent

    settings.JWEB_LOCK_AFTER_FAILURES = 1
    fx_totp.verify_token(wrong_code(fx_totp.authenticator))
    log_in_with_totp(client, bank_staff, register_totp(bank_staff))
    response = client.post(
        "/admin/auth_enforcement/authenticator/",
        {
            "action": "unlock",
            "_selected_action": [fx_totp.authenticator_id],
            "apply": "1",
            "reason": "本人確認のうえ解除",
        },  # noqa: E501
    )
    assert response.status_code == 302
    assert not Authenticator.objects.get(pk=fx_totp.authenticator_id).is_locked
    event = AuthEvent.objects.get(kind=AuthEvent.Kind.UNLOCKED)
    assert (event.actor, event.subject, event.details["reason"]) == (bank_staff, fx_totp.user, "本人確認のうえ解除")
