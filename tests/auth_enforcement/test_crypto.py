from io import StringIO

import pytest
from cryptography.fernet import Fernet
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command

from auth_enforcement.models import Authenticator


def test_rotation_re_encrypts_with_the_new_key_and_old_key_can_be_dropped(settings, fx_totp):
    secret = fx_totp.authenticator.totp_secret
    old = settings.JWEB_SECRET_KEYS[0]
    new = Fernet.generate_key().decode()
    settings.JWEB_SECRET_KEYS = [new, old]
    call_command("rotate_secrets", stdout=StringIO())
    settings.JWEB_SECRET_KEYS = [new]
    assert Authenticator.objects.get(pk=fx_totp.authenticator_id).totp_secret == secret


def test_a_secret_sealed_with_an_unknown_key_is_not_readable(settings, fx_totp):
    settings.JWEB_SECRET_KEYS = [Fernet.generate_key().decode()]
    with pytest.raises(ImproperlyConfigured, match="JWEB_SECRET_KEYS"):
        Authenticator.objects.get(pk=fx_totp.authenticator_id).totp_secret  # noqa: B018


def test_rotation_also_re_encrypts_push_server_keys(settings, fx_push):
    from auth_enforcement.push import server_public_key

    before = server_public_key(fx_push.authenticator)
    old = settings.JWEB_SECRET_KEYS[0]
    new = Fernet.generate_key().decode()
    settings.JWEB_SECRET_KEYS = [new, old]
    call_command("rotate_secrets", stdout=StringIO())
    settings.JWEB_SECRET_KEYS = [new]
    assert server_public_key(Authenticator.objects.get(pk=fx_push.authenticator_id)) == before
