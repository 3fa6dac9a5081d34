"""App signatures: only the app's key over exactly the signed string passes; nothing else raises or changes."""

from __future__ import annotations

import base64
import binascii
from datetime import UTC, datetime, timedelta, timezone
from urllib.parse import urlencode

from django.test import Client
from django.utils import timezone as django_timezone
from hypothesis import given
from hypothesis import strategies as st

from auth_enforcement import pushproto
from auth_enforcement.models import Authenticator, AuthEvent, PushChallenge
from tests.auth_enforcement import conftest as push_fixtures
from tests.auth_enforcement.conftest import app_signature
from tests.conftest import log_in
from tests.properties import bounded, hostile_text

# The RSA-4096 keys and the push registration the push tests use (tests/auth_enforcement/conftest.py).
keys = push_fixtures.keys
push_factory = push_fixtures.push_factory
fx_push = push_fixtures.fx_push

BASE32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
DEVICE = "/device/push/"

signature_texts = st.one_of(
    hostile_text,
    st.text(alphabet=BASE32 + "=", max_size=1000),  # the alphabet, any length, any padding
    st.binary(max_size=600).map(lambda raw: base64.b32encode(raw).decode()),  # valid base32 of any bytes
    st.binary(min_size=512, max_size=512).map(lambda raw: base64.b32encode(raw).decode()),  # of an RSA-4096 size
)
messages = st.text()  # the app signs UTF-8; the server reads any code point but a surrogate


def decoded(signature: str) -> bytes | None:
    """The bytes a signature text stands for, as the server reads it (upper-cased, trimmed), or None."""
    try:
        return base64.b32decode(signature.strip().upper())
    except (binascii.Error, ValueError):
        return None


@bounded(300)
@given(signature=signature_texts, message=messages)
def test_arbitrary_signature_text_is_refused_without_an_exception(keys, signature, message):
    assert pushproto.verify(keys["app"].public_key(), signature, message) is False


@bounded(100)
@given(message=messages)
def test_the_apps_signature_of_any_message_verifies(keys, message):
    assert pushproto.verify(keys["app"].public_key(), app_signature(keys["app"], message), message) is True


@bounded(100)
@given(message=messages.filter(bool), data=st.data())
def test_a_signature_does_not_cover_a_message_with_any_character_changed(keys, message, data):
    signature = app_signature(keys["app"], message)
    i = data.draw(st.integers(0, len(message) - 1), label="position")
    other = data.draw(st.characters(exclude_characters=message[i]), label="new character")
    changed = message[:i] + other + message[i + 1 :]
    assert pushproto.verify(keys["app"].public_key(), signature, changed) is False


@bounded(150)
@given(message=messages, data=st.data())
def test_a_signature_with_any_character_changed_verifies_only_if_it_still_names_the_same_bytes(keys, message, data):
    """Any change to the signature's bytes is refused.

    The reader is lenient in two ways that keep the bytes the same: it upper-cases, and, as
    Python's base32 decoder does, it ignores the 4 unused low bits of the last character before
    the padding (512 bytes are 819.2 base32 characters). Those texts name the signature the app
    made, so they verify; every other change must not.
    """
    signature = app_signature(keys["app"], message)
    i = data.draw(st.integers(0, len(signature) - 1), label="position")
    other = data.draw(
        st.one_of(st.sampled_from(BASE32 + "=" + BASE32.lower()), st.characters()).filter(lambda c: c != signature[i]),
        label="new character",
    )
    changed = signature[:i] + other + signature[i + 1 :]
    verified = pushproto.verify(keys["app"].public_key(), changed, message)
    assert verified is (decoded(changed) == decoded(signature))


# -- through the device API ---------------------------------------------------------------


def stamp(at: datetime) -> str:
    return at.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


fresh_stamps = st.floats(-120, 120).map(lambda skew: stamp(datetime.now(UTC) + timedelta(seconds=skew)))
timestamps = st.one_of(
    fresh_stamps,
    fresh_stamps,  # twice: most of the app's requests are on time
    # Any date with any offset, in ISO 8601 (fromisoformat reads them all).
    st.builds(
        lambda at, minutes: at.replace(tzinfo=timezone(timedelta(minutes=minutes))).isoformat(),
        st.datetimes(),
        st.integers(-1439, 1439),
    ),
    st.datetimes().map(lambda at: at.isoformat() + "Z"),
    hostile_text,
)


def snapshot(challenge: PushChallenge) -> tuple:
    """What an answer, a decline or a token update may change."""
    return (
        PushChallenge.objects.filter(pk=challenge.pk)
        .values_list("status", "wrong_answers", "answered_at", "decline_reason")
        .get(),
        Authenticator.objects.filter(pk=challenge.authenticator_id)
        .values_list("status", "push_blocked_until", "push_token", "needs_reregistration", "app_public_key")
        .get(),
        AuthEvent.objects.count(),
    )


def reopen(challenge: PushChallenge) -> None:
    """Put the challenge and its token back as they were before a signed answer changed them."""
    PushChallenge.objects.filter(pk=challenge.pk).update(
        status=PushChallenge.Status.PENDING,
        wrong_answers=0,
        answered_at=None,
        decline_reason="",
        expires_at=django_timezone.now() + timedelta(minutes=2),
    )
    Authenticator.objects.filter(pk=challenge.authenticator_id).update(
        push_blocked_until=None, push_token="", needs_reregistration=False
    )


def test_device_api_answers_any_poll_or_answer_in_the_protocol_shape_and_only_a_signed_one_changes_state(
    client, keys, fx_user, fx_push
):
    log_in(client, "fx", "taro01")  # opens a login challenge
    challenge = PushChallenge.objects.get(user=fx_user)
    right = {"serial": fx_push.authenticator.serial, "nonce": challenge.nonce}
    phone = Client(raise_request_exception=False)
    seen = set()

    def field(name: str, data) -> str:
        """The real value (most of the time), or anything."""
        if data.draw(st.sampled_from(["real", "real", "real", "anything"]), label=f"{name} is") == "real":
            return right[name]
        return data.draw(hostile_text, label=name)

    @bounded(250)
    @given(data=st.data())
    def check(data) -> None:
        reopen(challenge)
        kind = data.draw(st.sampled_from(["poll", "answer", "decline", "token update"]), label="request")
        serial = field("serial", data)
        if kind == "poll":
            fields = {"serial": serial, "timestamp": data.draw(timestamps, label="timestamp")}
            message = f"{fields['serial']}|{fields['timestamp']}"
        elif kind == "answer":
            numbers = st.sampled_from(["", challenge.number, *challenge.options.split(",")])
            presence = data.draw(numbers | hostile_text, label="presence_answer")
            fields = {"nonce": field("nonce", data), "serial": serial, "presence_answer": presence}
            message = f"{fields['nonce']}|{serial}" + (f"|{presence}" if presence else "")
        elif kind == "decline":
            reason = data.draw(st.sampled_from(["", "unknown_trigger", "cancelled"]) | hostile_text, label="reason")
            fields = {"nonce": field("nonce", data), "serial": serial, "decline": "1", "decline_reason": reason}
            message = f"{fields['nonce']}|{serial}|decline" + (f"|{reason}" if reason else "")
        else:
            token = data.draw(hostile_text, label="new_fb_token")
            fields = {"new_fb_token": token, "serial": serial, "timestamp": data.draw(timestamps, label="timestamp")}
            message = f"{token}|{serial}|{fields['timestamp']}"
        signed = data.draw(st.sampled_from([True, False]), label="signed by the app")
        if signed:
            fields["signature"] = app_signature(keys["app"], message)
        else:  # anything, or the app's signature of another string, or the server's of this one
            fields["signature"] = data.draw(
                st.one_of(
                    signature_texts,
                    hostile_text.filter(lambda other: other != message).map(lambda m: app_signature(keys["app"], m)),
                    st.just(app_signature(keys["server"], message)),
                ),
                label="signature",
            )
        before = snapshot(challenge)
        if kind == "poll":
            response = phone.get(DEVICE, fields, secure=True)
        else:  # as the app sends it: form-encoded
            body = urlencode(fields)
            response = phone.post(DEVICE, body, content_type="application/x-www-form-urlencoded", secure=True)
        assert response.status_code == 200 or 400 <= response.status_code < 500, response.content[:300]
        result = response.json()["result"]
        if response.status_code == 200:
            assert result["status"] is True and "value" in result
        else:
            assert result["status"] is False
            assert isinstance(result["error"]["code"], int) and isinstance(result["error"]["message"], str)
        if not signed:
            assert snapshot(challenge) == before
        seen.add((kind, signed, response.status_code == 200, snapshot(challenge) != before))

    check()
    # The run reached every request kind and, signed, the changes the refusals are compared with.
    assert {kind for kind, *_ in seen} == {"poll", "answer", "decline", "token update"}
    assert any(signed and changed for _, signed, _, changed in seen)
