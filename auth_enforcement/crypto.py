"""Encryption at rest for credential secrets, with keys from the environment."""

from __future__ import annotations

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured


def _keys() -> MultiFernet:
    keys = settings.JWEB_SECRET_KEYS
    try:
        return MultiFernet([Fernet(key) for key in keys])
    except (ValueError, TypeError):
        raise ImproperlyConfigured("JWEB_SECRET_KEYS must list Fernet keys (32 url-safe base64 bytes each).") from None


def seal(plaintext: bytes) -> str:
    """Encrypt with the first key (AES-128-CBC + HMAC-SHA256, Fernet)."""
    return _keys().encrypt(plaintext).decode("ascii")


def unseal(token: str) -> bytes:
    """Decrypt with whichever configured key sealed it."""
    try:
        return _keys().decrypt(token.encode("ascii"))
    except InvalidToken:
        raise ImproperlyConfigured("A stored secret cannot be decrypted with JWEB_SECRET_KEYS.") from None


def reseal(token: str) -> str:
    """Re-encrypt with the first key, for key rotation."""
    return _keys().rotate(token.encode("ascii")).decode("ascii")
