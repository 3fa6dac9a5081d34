import re
from datetime import timedelta

import pyotp
import pytest
from django.core import mail

from tests.auth_enforcement.test_enrollment import codes, confirm
from tests.auth_enforcement.test_start_of_use import link
from tests.conftest import log_in, log_in_with_totp, submit_code, totp_code

pytestmark = pytest.mark.usefixtures("english")


def subjects() -> list[str]:
    return [message.subject for message in mail.outbox]


def test_enrollment_is_mailed_without_the_key(client, fx_user, enrolling):
    confirm(client, *codes(enrolling))
    (message,) = mail.outbox
    assert message.to == ["taro@example.jp"] and "Second factor registered" in message.subject
    assert "taro01" in message.body and "0120-210-489" in message.body
    assert enrolling.secret not in message.body


def test_start_of_use_is_mailed(client, frozen, fx_user, domestic_user, domestic_totp):
    log_in(client, "fx", "taro01")
    link(client, "taro01", domestic_totp.authenticator)
    assert any("Start of use in the FX edition" in s for s in subjects())


def test_loss_is_mailed_to_every_user_of_the_credential(client, frozen, fx_user, domestic_user, domestic_totp):
    log_in(client, "fx", "taro01")
    link(client, "taro01", domestic_totp.authenticator)
    mail.outbox.clear()
    client.post("/enroll/lost/", {"confirm": "yes"})
    assert sorted(m.to[0] for m in mail.outbox if "revoked" in m.subject) == ["taro@example.jp", "taro@example.jp"]
    assert len(mail.outbox) == 2


def test_lock_is_mailed_once(client, settings, frozen, fx_user, fx_totp):
    settings.JWEB_LOCK_AFTER_FAILURES = 1
    log_in(client, "fx", "taro01")
    wrong = "000000" if totp_code(fx_totp.authenticator) != "000000" else "111111"
    submit_code(client, "fx", wrong)
    frozen.shift(timedelta(seconds=5))
    submit_code(client, "fx", wrong)
    assert subjects().count("【JWEBOFFICE】認証デバイスのロック / Authenticator locked") == 1


def test_method_switch_is_mailed(client, frozen, fx_user, fx_totp):
    log_in_with_totp(client, fx_user, fx_totp)
    frozen.shift(timedelta(seconds=30))
    client.post("/enroll/switch/", {"code": totp_code(fx_totp.authenticator)})
    page = client.get("/enroll/totp/").content.decode()
    key = re.search(r'<code id="totp-key" class="key">([A-Z2-7 ]+)</code>', page).group(1).replace(" ", "")
    confirm(client, *codes(pyotp.TOTP(key)))
    assert any("Authentication method changed" in s for s in subjects())


def test_a_user_without_an_address_gets_no_mail_and_nothing_breaks(client, fx_user, enrolling):
    type(fx_user).objects.filter(pk=fx_user.pk).update(email="")
    assert confirm(client, *codes(enrolling))["Location"] == "/home/"
    assert mail.outbox == []
