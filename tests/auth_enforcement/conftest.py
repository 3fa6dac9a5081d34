"""Push fixtures: real RSA-4096 keys (made once per run: each takes about a second)."""

from __future__ import annotations

import base64

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from auth_enforcement import crypto
from auth_enforcement.models import Authenticator, Registration


@pytest.fixture(scope="session")
def keys() -> dict[str, rsa.RSAPrivateKey]:
    return {name: rsa.generate_private_key(public_exponent=65537, key_size=4096) for name in ("server", "app")}


def app_signature(key: rsa.RSAPrivateKey, message: str) -> str:
    """Sign as the phone app does: PKCS#1 v1.5, SHA-256, base32."""
    return base64.b32encode(key.sign(message.encode(), padding.PKCS1v15(), hashes.SHA256())).decode()


def server_signature_is_valid(key: rsa.RSAPublicKey, signature: str, message: str) -> bool:
    try:
        key.verify(base64.b32decode(signature), message.encode(), padding.PKCS1v15(), hashes.SHA256())
    except Exception:  # noqa: BLE001 - any failure means "not valid"
        return False
    return True


@pytest.fixture
def push_factory(keys):
    """Give a user an active push registration, as a finished enrollment leaves it."""

    def make(user, push_token: str = "") -> Registration:
        server_pem = keys["server"].private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        app_der = (
            keys["app"]
            .public_key()
            .public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
        )
        authenticator = Authenticator.objects.create(
            kind=Authenticator.Kind.PUSH,
            serial=f"JWP{user.pk:09d}",
            customer=user.customer,
            status=Authenticator.Status.ACTIVE,
            server_key_sealed=crypto.seal(server_pem),
            app_public_key=base64.b64encode(app_der).decode(),
            push_token=push_token,
        )
        return Registration.objects.create(user=user, authenticator=authenticator)

    return make


@pytest.fixture
def fx_push(fx_user, push_factory) -> Registration:
    return push_factory(fx_user)


@pytest.fixture
def enrolling(client, fx_user, frozen):
    """A password-only FX session on the TOTP enrollment page; returns the key shown."""
    import re

    import pyotp

    from tests.conftest import log_in

    log_in(client, "fx", "taro01")
    page = client.get("/enroll/totp/").content.decode()
    key = re.search(r'<code id="totp-key" class="key">([A-Z2-7 ]+)</code>', page).group(1).replace(" ", "")
    return pyotp.TOTP(key)


@pytest.fixture
def domestic_totp(domestic_user) -> Registration:
    from tests.conftest import register_totp

    return register_totp(domestic_user)
