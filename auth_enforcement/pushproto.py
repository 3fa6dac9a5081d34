"""The privacyIDEA PUSH v1 wire format: keys, signatures and the strings that are signed.

See ../shared/reference/push-protocol.md. Written from the protocol facts; no code of the
peer's server is used. Pure functions: no Django, no database.
"""

from __future__ import annotations

import base64
import binascii
import secrets
from datetime import UTC, datetime

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

KEY_BITS = 4096
PUBLIC_EXPONENT = 65537


def generate_key() -> rsa.RSAPrivateKey:
    """Return a fresh RSA-4096 key (one per token, as the peer does)."""
    return rsa.generate_private_key(public_exponent=PUBLIC_EXPONENT, key_size=KEY_BITS)


def private_key_to_pem(key: rsa.RSAPrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def private_key_from_pem(pem: bytes) -> rsa.RSAPrivateKey:
    # OpenSSL's consistency check of an RSA-4096 key costs ~0.3 s of CPU per load, i.e. per push
    # sent (bench/push_latency.py). The key is one this server generated, and it comes out of
    # Fernet-authenticated storage (crypto.unseal), so it cannot have been altered.
    return serialization.load_pem_private_key(pem, password=None, unsafe_skip_rsa_key_validation=True)


def public_key_for_app(key: rsa.RSAPrivateKey) -> str:
    """Return the server key as the app wants it: PKCS#1 RSAPublicKey, PEM body without armour."""
    pem = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.PKCS1).decode()
    return "".join(line for line in pem.splitlines() if not line.startswith("-----"))


def load_app_public_key(text: str) -> rsa.RSAPublicKey | None:
    """Read the app's key (base64 DER SubjectPublicKeyInfo), leniently; None if it is no RSA-4096 key."""
    body = "".join(line for line in (text or "").splitlines() if not line.startswith("-----"))
    # Seen in the wild: urlsafe base64, and '+' turned into ' ' by form encoding.
    body = body.strip().replace(" ", "+").replace("-", "+").replace("_", "/")
    body += "=" * (-len(body) % 4)
    try:
        key = serialization.load_der_public_key(base64.b64decode(body, validate=True))
    except (ValueError, binascii.Error, TypeError, UnsupportedAlgorithm):
        return None
    if not isinstance(key, rsa.RSAPublicKey) or key.key_size != KEY_BITS:
        return None
    return key


def app_public_key_text(key: rsa.RSAPublicKey) -> str:
    """Return the canonical stored form of an app key: standard base64 of DER SPKI."""
    der = key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return base64.b64encode(der).decode()


def sign(key: rsa.RSAPrivateKey, message: str) -> str:
    """Sign with RSASSA-PKCS1-v1_5 / SHA-256; return base32, upper case, padded."""
    signature = key.sign(message.encode("utf-8"), padding.PKCS1v15(), hashes.SHA256())
    return base64.b32encode(signature).decode()


def verify(key: rsa.RSAPublicKey, signature: str, message: str) -> bool:
    """Return whether `signature` (base32) is the key's signature of `message`."""
    try:
        raw = base64.b32decode((signature or "").strip().upper(), casefold=False)
        key.verify(raw, message.encode("utf-8"), padding.PKCS1v15(), hashes.SHA256())
    except (InvalidSignature, binascii.Error, ValueError, TypeError):
        return False
    return True


def new_nonce() -> str:
    """Return a challenge nonce: base32 of 20 random bytes, as the peer makes them."""
    return base64.b32encode(secrets.token_bytes(20)).decode()


def challenge_message(
    nonce: str, url: str, serial: str, question: str, title: str, sslverify: str, require_presence: str = ""
) -> str:
    """Return the string the server signs for a challenge."""
    fields = [nonce, url, serial, question, title, sslverify]
    if require_presence:
        fields.append(require_presence)
    return "|".join(fields)


def poll_message(serial: str, timestamp: str) -> str:
    return f"{serial}|{timestamp}"


def accept_message(nonce: str, serial: str, presence_answer: str = "") -> str:
    return f"{nonce}|{serial}|{presence_answer}" if presence_answer else f"{nonce}|{serial}"


def decline_message(nonce: str, serial: str, reason: str = "") -> str:
    return f"{nonce}|{serial}|decline|{reason}" if reason else f"{nonce}|{serial}|decline"


def token_update_message(new_token: str, serial: str, timestamp: str) -> str:
    return f"{new_token}|{serial}|{timestamp}"


def parse_timestamp(text: str) -> datetime | None:
    """Read the app's ISO 8601 UTC timestamp (2026-08-21T09:30:42.123456Z); None if malformed."""
    try:
        stamp = datetime.fromisoformat((text or "").strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return stamp if stamp.tzinfo else stamp.replace(tzinfo=UTC)
