import json
from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from auth_enforcement.models import AuthEvent
from tests.conftest import PASSWORD, log_in, log_in_with_totp, submit_code, totp_code


def kinds(**filters) -> list[str]:
    return list(AuthEvent.objects.filter(**filters).order_by("at", "pk").values_list("kind", flat=True))


def test_failed_password_is_recorded_with_the_id_typed_and_no_password(client, fx_user):
    log_in(client, "fx", "taro01", "wrong-password-1", HTTP_USER_AGENT="Mozilla/5.0 test", REMOTE_ADDR="203.0.113.7")
    event = AuthEvent.objects.get(kind=AuthEvent.Kind.LOGIN_FAILED)
    assert event.details == {"login_id": "taro01", "entrance": "fx"}
    assert (event.ip, event.user_agent) == ("203.0.113.7", "Mozilla/5.0 test")


def test_a_full_login_records_password_factor_and_completion(client, fx_user, fx_totp):
    log_in_with_totp(client, fx_user, fx_totp)
    assert kinds(subject=fx_user) == ["login_password_ok", "factor_ok", "login_completed"]
    assert AuthEvent.objects.get(kind="login_completed").details == {"verified": True}


def test_wrong_code_and_lock_are_recorded(client, settings, fx_user, fx_totp):
    settings.JWEB_LOCK_AFTER_FAILURES = 1
    log_in(client, "fx", "taro01")
    wrong = "000000" if totp_code(fx_totp.authenticator) != "000000" else "111111"
    submit_code(client, "fx", wrong)
    assert kinds(subject=fx_user)[-2:] == ["factor_failed", "locked"]
    submit_code(client, "fx", totp_code(fx_totp.authenticator))
    assert kinds(kind="locked") == ["locked"]  # recorded once, when it happened


def test_logout_is_recorded(signed_in, fx_user):
    signed_in.post("/logout/")
    assert kinds(subject=fx_user)[-1] == "logout"


def test_no_password_code_or_secret_is_ever_recorded(client, fx_user, fx_totp):
    with time_machine.travel(timezone.now(), tick=False) as clock:
        code = totp_code(fx_totp.authenticator)
        log_in(client, "fx", "taro01", "wrong-password-1")
        log_in(client, "fx", "taro01")
        submit_code(client, "fx", "123456" if code != "123456" else "654321")
        clock.shift(timedelta(seconds=3))
        submit_code(client, "fx", code)
    trail = json.dumps(list(AuthEvent.objects.values()), default=str, ensure_ascii=False)
    for secret in (PASSWORD, "wrong-password-1", code, fx_totp.authenticator.totp_secret):
        assert secret not in trail
    assert fx_totp.authenticator.secret_sealed not in trail


def test_the_audit_trail_cannot_be_changed(fx_user):
    event = AuthEvent.objects.create(kind=AuthEvent.Kind.LOGOUT, subject=fx_user)
    event.kind = AuthEvent.Kind.LOGIN_COMPLETED
    with pytest.raises(PermissionError):
        event.save()
    with pytest.raises(PermissionError):
        event.delete()
    with pytest.raises(PermissionError):
        AuthEvent.objects.filter(pk=event.pk).update(kind="login_completed")
    with pytest.raises(PermissionError):
        AuthEvent.objects.all().delete()
    assert AuthEvent.objects.get(pk=event.pk).kind == AuthEvent.Kind.LOGOUT
