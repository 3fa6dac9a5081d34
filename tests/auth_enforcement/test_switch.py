import re

import pyotp
import pytest
from django.utils import timezone

from auth_enforcement.models import Authenticator, AuthEvent, PushChallenge, Registration
from tests.auth_enforcement.test_push import answer, qr_fields, roll_out
from tests.conftest import log_in, log_in_with_totp, submit_code, totp_code

pytestmark = pytest.mark.usefixtures("english")


def test_switching_needs_the_current_factor_again(client, fx_user, fx_totp):
    log_in_with_totp(client, fx_user, fx_totp)
    assert client.get("/enroll/push/")["Location"] == "/enroll/"
    assert client.get("/enroll/totp/")["Location"] == "/enroll/"
    assert 'href="/enroll/switch/"' in client.get("/enroll/").content.decode()


def test_a_wrong_code_does_not_open_the_switch(client, frozen, fx_user, fx_totp):
    log_in_with_totp(client, fx_user, fx_totp)
    response = client.post(
        "/enroll/switch/", {"code": "000000" if totp_code(fx_totp.authenticator) != "000000" else "111111"}
    )
    assert "not correct" in response.content.decode()
    assert client.get("/enroll/push/")["Location"] == "/enroll/"


def test_totp_user_switches_to_push_and_the_old_method_is_revoked(client, keys, frozen, fx_user, fx_totp):
    from datetime import timedelta

    log_in_with_totp(client, fx_user, fx_totp)
    frozen.shift(timedelta(seconds=30))
    assert client.post("/enroll/switch/", {"code": totp_code(fx_totp.authenticator)})["Location"] == "/enroll/"
    fields = qr_fields(client.get("/enroll/push/").content.decode())
    roll_out(keys, fields)
    client.get("/enroll/push/")
    challenge = PushChallenge.objects.get(purpose=PushChallenge.Purpose.ENROLLMENT)
    answer(client, keys, challenge, presence=challenge.number)
    assert client.get("/enroll/push/status/").json()["status"] == "done"
    current = Registration.objects.for_login(fx_user)
    assert current.authenticator.kind == Authenticator.Kind.PUSH
    assert Registration.objects.get(pk=fx_totp.pk).revoked_at is not None
    event = AuthEvent.objects.get(kind=AuthEvent.Kind.METHOD_SWITCHED)
    assert (event.details["old"], event.details["new"]) == ("totp", "push")
    # The old generator no longer logs in.
    client.post("/logout/")
    log_in(client, "fx", "taro01")
    assert PushChallenge.objects.filter(purpose=PushChallenge.Purpose.LOGIN).exists()


def test_push_user_switches_to_totp_after_approving_on_the_phone(client, keys, fx_user, fx_push):
    log_in(client, "fx", "taro01")
    login = PushChallenge.objects.get(purpose=PushChallenge.Purpose.LOGIN)
    answer(client, keys, login, presence=login.number)
    submit_code(client, "fx", "")
    client.get("/enroll/switch/")
    reauth = PushChallenge.objects.get(purpose=PushChallenge.Purpose.REAUTH)
    assert client.get("/enroll/switch/status/").json()["status"] == "pending"
    answer(client, keys, reauth, presence=reauth.number)
    assert client.get("/enroll/switch/status/").json() == {"status": "done", "next": "/enroll/"}
    page = client.get("/enroll/totp/").content.decode()
    key = re.search(r'<code id="totp-key" class="key">([A-Z2-7 ]+)</code>', page).group(1).replace(" ", "")
    totp = pyotp.TOTP(key)
    now = totp.timecode(timezone.now())
    response = client.post(
        "/enroll/totp/", {"first_code": totp.generate_otp(now - 1), "second_code": totp.generate_otp(now)}
    )
    assert response["Location"] == "/home/"
    assert Registration.objects.for_login(fx_user).authenticator.kind == Authenticator.Kind.TOTP
    assert Registration.objects.get(pk=fx_push.pk).revoked_at is not None
