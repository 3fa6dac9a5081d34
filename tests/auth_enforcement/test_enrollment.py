import re
from datetime import timedelta

import pyotp
import pytest
from django.utils import timezone

from auth_enforcement.models import Authenticator, AuthEvent, Registration
from tests.conftest import log_in, log_in_with_totp

pytestmark = pytest.mark.usefixtures("english")


def confirm(client, first: str, second: str):
    return client.post("/enroll/totp/", {"first_code": first, "second_code": second})


def codes(totp: pyotp.TOTP, offset: int = 0) -> tuple[str, str]:
    now = totp.timecode(timezone.now())
    return totp.generate_otp(now - 1 + offset), totp.generate_otp(now + offset)


def test_after_the_mandate_an_unregistered_user_is_sent_to_enrollment(client, fx_user):
    log_in(client, "fx", "taro01")
    assert client.get("/home/")["Location"] == "/enroll/"
    assert 'href="/enroll/totp/"' in client.get("/enroll/").content.decode()


def test_enrollment_page_shows_the_qr_code_and_the_key_grouped(client, enrolling):
    page = client.get("/enroll/totp/").content.decode()
    assert 'src="data:image/svg+xml' in page
    assert re.search(r"([A-Z2-7]{4} ){7}[A-Z2-7]{4}", page)  # 32 characters in groups of four


def test_two_consecutive_codes_register_the_generator(client, fx_user, enrolling):
    response = confirm(client, *codes(enrolling))
    assert response["Location"] == "/home/"
    registration = Registration.objects.get(user=fx_user)
    assert registration.authenticator.status == Authenticator.Status.ACTIVE
    assert registration.origin == Registration.Origin.SELF
    assert client.get("/home/").status_code == 200  # this session has proved the factor


def test_registration_rotates_the_session_key(client, enrolling):
    before = client.session.session_key
    confirm(client, *codes(enrolling))
    assert client.session.session_key != before


def test_the_key_is_never_shown_again_after_registration(client, enrolling):
    confirm(client, *codes(enrolling))
    for path in ("/enroll/", "/enroll/totp/", "/home/"):
        page = client.get(path, follow=True).content.decode()
        assert enrolling.secret not in page
        assert "totp-key" not in page


@pytest.mark.parametrize("which", ["same code twice", "reversed", "not consecutive", "wrong key"])
def test_codes_that_do_not_prove_the_key_are_refused(client, fx_user, enrolling, which):
    first, second = codes(enrolling)
    bad = {
        "same code twice": (second, second),
        "reversed": (second, first),
        "not consecutive": (enrolling.generate_otp(enrolling.timecode(timezone.now()) - 2), second),
        "wrong key": codes(pyotp.TOTP(pyotp.random_base32())),
    }[which]
    response = confirm(client, *bad)
    assert response.status_code == 200
    assert "do not match this key" in response.content.decode()
    assert not Registration.objects.filter(user=fx_user).exists()


def test_malformed_codes_get_a_message(client, fx_user, enrolling):
    response = confirm(client, "12345", "abcdef")
    assert response.content.decode().count("6-digit number") == 2
    assert not Registration.objects.filter(user=fx_user).exists()


def test_codes_one_step_late_are_still_accepted(client, fx_user, enrolling, frozen):
    first, second = codes(enrolling)
    frozen.shift(timedelta(seconds=30))  # the user was slow to type
    assert confirm(client, first, second)["Location"] == "/home/"


def test_an_enrollment_older_than_ten_minutes_is_restarted_with_a_new_key(client, fx_user, enrolling, frozen):
    frozen.shift(timedelta(minutes=11))
    response = confirm(client, *codes(enrolling))
    assert response["Location"] == "/enroll/totp/"
    assert not Registration.objects.filter(user=fx_user).exists()
    page = client.get("/enroll/totp/").content.decode()
    assert enrolling.secret not in page.replace(" ", "")


def test_enrollment_needs_a_signed_in_user(client, db):
    assert client.get("/enroll/totp/")["Location"].startswith("/?next=")


def test_a_registered_user_cannot_register_a_second_generator(client, fx_user, fx_totp):
    log_in_with_totp(client, fx_user, fx_totp)
    assert client.get("/enroll/totp/")["Location"] == "/enroll/"
    assert Authenticator.objects.count() == 1


def test_the_registered_generator_then_logs_in(client, fx_user, enrolling, frozen):
    confirm(client, *codes(enrolling))
    client.post("/logout/")
    frozen.shift(timedelta(seconds=30))
    log_in(client, "fx", "taro01")
    response = client.post(
        "/fx/login/",
        {"entrance_login_view-current_step": "token", "token-otp_token": enrolling.now()},
    )
    assert response["Location"] == "/home/"


def test_enrollment_is_audited_without_the_key(client, fx_user, enrolling):
    confirm(client, *codes(enrolling))
    kinds = list(AuthEvent.objects.filter(subject=fx_user).values_list("kind", flat=True))
    assert AuthEvent.Kind.ENROLLMENT_STARTED in kinds and AuthEvent.Kind.ENROLLED in kinds
    for event in AuthEvent.objects.all():
        assert enrolling.secret not in str(event.details)
