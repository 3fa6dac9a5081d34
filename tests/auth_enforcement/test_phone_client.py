"""The reference phone client against the real device API, over HTTP to pytest-django's live server.

The client shares no code with the server, so each test is an interop check of one part of the
privacyIDEA PUSH v1 protocol (../shared/reference/push-protocol.md), signatures and all.
"""

from __future__ import annotations

import base64
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from django.conf import settings as django_settings
from django.test import RequestFactory
from django.utils import timezone

from auth_enforcement import crypto, push
from auth_enforcement.models import Authenticator, PushChallenge
from auth_enforcement.phone_client import (
    Phone,
    PhoneError,
    ServerRefusedError,
    load_server_key,
    main,
    new_key,
    parse_qr,
    public_key_field,
    sign,
    signature_is_valid,
)

ROOT = Path(django_settings.BASE_DIR)
live = pytest.mark.django_db(transaction=True)


@pytest.fixture(scope="session")
def app_key():
    """One RSA-4096 app key for every enrollment of the session (a key takes 0.5–2 s to make)."""
    return new_key()


@pytest.fixture
def server_request(live_server, fx_user):
    """A request of the FX user's browser, addressed to the live server (the device URL is built from it)."""
    request = RequestFactory().get(
        "/",
        SERVER_NAME=live_server.thread.host,
        SERVER_PORT=str(live_server.thread.port),
        HTTP_USER_AGENT="Mozilla/5.0 (phone client test)",
    )
    request.user = fx_user
    return request


@pytest.fixture
def enrollment(server_request) -> push.PushEnrollment:
    return push.start_push_enrollment(server_request)


@pytest.fixture
def phone(tmp_path, enrollment, app_key) -> Phone:
    """A phone that has scanned the QR code and rolled out."""
    phone = Phone(tmp_path / "phone.json")
    phone.enroll(enrollment.qr_uri, key=app_key)
    return phone


def send(server_request, enrollment) -> PushChallenge:
    """Have the server sign and send a login challenge, as the login page does."""
    authenticator = Authenticator.objects.get(pk=enrollment.authenticator.pk)
    challenge, _delivery = push.send_challenge(server_request, server_request.user, authenticator, "a1", "login")
    return challenge


def wrong_number(row: PushChallenge) -> str:
    return next(option for option in row.options.split(",") if option != row.number)


# -- without a server -------------------------------------------------------------------


def test_importing_the_client_loads_no_django():
    code = "import auth_enforcement.phone_client, sys; print(any(m.startswith('django') for m in sys.modules))"
    env = {key: value for key, value in os.environ.items() if key != "DJANGO_SETTINGS_MODULE"}
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"


def test_qr_code_url_may_be_percent_encoded_as_privacyidea_sends_it():
    # privacyIDEA 3.14 sends url=http%3A//host%3Aport/… ; our server sends it unencoded.
    code = parse_qr(
        "otpauth://pipush/taro01?url=https%3A//jweb.example.jp%3A8443/device/push/&ttl=10&issuer=JWEBOFFICE"
        "&enrollment_credential=ab12&v=1&serial=JWP0001&sslverify=1&poll_only=True"
    )
    assert code.url == "https://jweb.example.jp:8443/device/push/"
    assert (code.label, code.serial, code.ttl_minutes, code.sslverify, code.poll_only) == (
        "taro01",
        "JWP0001",
        10,
        True,
        True,
    )


@pytest.mark.parametrize(
    "qr_uri",
    [
        "otpauth://pipush/taro01?url=https://h/device/push/&enrollment_credential=ab&v=2&serial=S",
        "otpauth://pipush/taro01?url=https://h/device/push/&enrollment_credential=ab&v=1",
        "otpauth://pipush/taro01?url=ftp://h/device/push/&enrollment_credential=ab&v=1&serial=S",
        "otpauth://totp/taro01?secret=ABC&v=1&serial=S",
    ],
    ids=["version-2", "no-serial", "not-http", "not-push"],
)
def test_client_refuses_qr_codes_the_app_refuses(qr_uri):
    with pytest.raises(PhoneError):
        parse_qr(qr_uri)


def test_client_refuses_an_spki_server_key_which_breaks_the_app(app_key):
    # The doc: "the server key is the PKCS#1 RSAPublicKey in PEM body form … An SPKI key here breaks the app."
    with pytest.raises(PhoneError, match="PKCS#1"):
        load_server_key(public_key_field(app_key))


def test_signatures_are_upper_case_padded_base32_of_824_characters(app_key):
    # The doc: "encoded as RFC 4648 base32, upper case, padded (824 characters for 4096-bit keys)".
    signature = sign(app_key, "nonce", "serial")
    assert len(signature) == 824 and signature == signature.upper() and signature.endswith("=")
    assert signature_is_valid(app_key.public_key(), signature, "nonce", "serial")
    assert not signature_is_valid(app_key.public_key(), signature.lower(), "nonce", "serial")
    assert len(base64.b32decode(signature)) == 512


# -- enrollment -------------------------------------------------------------------------


@live
def test_rollout_stores_the_app_key_and_uses_up_the_credential(tmp_path, enrollment, app_key):
    phone = Phone(tmp_path / "phone.json")
    result = phone.enroll(enrollment.qr_uri, key=app_key)

    assert result == {"status": True, "value": True}
    authenticator = Authenticator.objects.get(pk=enrollment.authenticator.pk)
    assert authenticator.app_public_key == public_key_field(app_key)
    assert authenticator.enrollment_digest == ""
    assert authenticator.push_token == ""  # fbtoken was no_firebase_token: poll-only
    assert authenticator.decline_reason_capable
    # The key the phone kept is the public half of the token's own server key.
    server_key = serialization.load_pem_private_key(crypto.unseal(authenticator.server_key_sealed), password=None)
    assert (
        load_server_key(phone.state["server_public_key"]).public_numbers() == server_key.public_key().public_numbers()
    )
    assert oct(os.stat(phone.state_file).st_mode & 0o777) == "0o600"  # it holds the app's private key

    # The enrollment credential is single use: a second rollout (a copied QR code) is refused.
    with pytest.raises(ServerRefusedError) as refused:
        Phone(tmp_path / "thief.json").enroll(enrollment.qr_uri, key=app_key)
    assert (refused.value.code, refused.value.http_status) == (905, 400)
    assert not (tmp_path / "thief.json").exists()


# -- polling ----------------------------------------------------------------------------


@live
def test_poll_without_challenge_returns_nothing(phone):
    polled = phone.poll()
    assert (polled.challenges, polled.rejected) == ([], [])


@live
def test_polled_challenge_is_signed_by_the_server_and_carries_the_question(server_request, enrollment, phone):
    row = send(server_request, enrollment)

    polled = phone.poll()

    assert polled.rejected == []
    [challenge] = polled.challenges
    assert (challenge.nonce, challenge.question, challenge.serial) == (row.nonce, row.question, phone.serial)
    assert challenge.url == phone.url  # the URL the QR code gave: plain, no default port
    assert challenge.sslverify == "0"  # the live server speaks http
    # Number matching: three distinct two-digit options, one of them the number on the login page.
    assert len(set(challenge.options)) == 3 and row.number in challenge.options
    assert challenge.can_give_decline_reason


@live
def test_client_detects_a_challenge_changed_after_signing(server_request, enrollment, phone):
    row = send(server_request, enrollment)
    # Someone with write access to the table (or a proxy) rewrites the question after signing.
    PushChallenge.objects.filter(pk=row.pk).update(question="Approve a transfer of 10,000,000 JPY?")

    polled = phone.poll()

    assert polled.challenges == []
    [rejected] = polled.rejected
    assert (rejected.nonce, rejected.reason) == (row.nonce, "server signature does not verify")


@live
def test_poll_with_a_stale_timestamp_is_refused(phone):
    # The peer allows ±60 s; a poll signed two minutes ago could be a replay.
    with pytest.raises(ServerRefusedError) as refused:
        phone.poll(at=datetime.now(UTC) - timedelta(minutes=2))
    assert (refused.value.code, refused.value.http_status) == (905, 400)
    assert "timestamp" in refused.value.message


# -- answers ----------------------------------------------------------------------------


@live
def test_accept_with_the_right_number_approves_once(server_request, enrollment, phone):
    row = send(server_request, enrollment)
    [challenge] = phone.poll().challenges

    assert phone.accept(challenge, row.number) == {"status": True, "value": True}
    row.refresh_from_db()
    assert row.status == PushChallenge.Status.APPROVED

    # A replayed or repeated answer is refused, and an answered challenge is no longer polled.
    with pytest.raises(ServerRefusedError) as refused:
        phone.accept(challenge, row.number)
    assert refused.value.code == 905
    assert phone.poll().challenges == []


@live
def test_wrong_number_is_refused_and_the_challenge_stays_open(server_request, enrollment, phone):
    row = send(server_request, enrollment)
    [challenge] = phone.poll().challenges

    assert phone.accept(challenge, wrong_number(row)) == {"status": True, "value": False}

    row.refresh_from_db()
    assert row.status == PushChallenge.Status.PENDING
    assert [open_.nonce for open_ in phone.poll().challenges] == [row.nonce]


@live
def test_not_me_declines_and_pauses_further_pushes(server_request, enrollment, phone):
    row = send(server_request, enrollment)
    [challenge] = phone.poll().challenges

    assert phone.decline(challenge, "unknown_trigger") == {"status": True, "value": True}

    row.refresh_from_db()
    assert (row.status, row.decline_reason) == (PushChallenge.Status.DENIED, "unknown_trigger")
    authenticator = Authenticator.objects.get(pk=enrollment.authenticator.pk)
    assert authenticator.push_blocked_until > timezone.now()
    with pytest.raises(push.PushRefusedError):
        send(server_request, enrollment)
    assert phone.poll().challenges == []


@live
def test_push_token_update_is_stored(enrollment, phone):
    # The server takes a new push token only from an active token: finish the enrollment as the
    # browser's confirmation step leaves it (that step is tested with the enrollment pages).
    Authenticator.objects.filter(pk=enrollment.authenticator.pk).update(status=Authenticator.Status.ACTIVE)

    assert phone.update_push_token("fcm-token-of-the-new-install") == {"status": True, "value": True}

    authenticator = Authenticator.objects.get(pk=enrollment.authenticator.pk)
    assert authenticator.push_token == "fcm-token-of-the-new-install"
    assert Phone(phone.state_file).push_token == "fcm-token-of-the-new-install"


# -- the command line -------------------------------------------------------------------


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONIOENCODING": "utf-8"}
    env.pop("DJANGO_SETTINGS_MODULE", None)
    return subprocess.run(
        [sys.executable, "-m", "auth_enforcement.phone_client", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=120,
    )


@live
def test_cli_enrolls_polls_and_accepts(tmp_path, server_request, enrollment):
    state = str(tmp_path / "cli-phone.json")

    enrolled = run_cli("enroll", enrollment.qr_uri, "--state", state)
    assert enrolled.returncode == 0, enrolled.stderr
    assert enrollment.authenticator.serial in enrolled.stdout

    row = send(server_request, enrollment)
    polled = run_cli("poll", "--state", state)
    assert polled.returncode == 0, polled.stderr
    assert row.question in polled.stdout
    assert all(option in polled.stdout for option in row.options.split(","))

    refused = run_cli("accept", "--state", state)  # number matching: no number, no answer
    assert refused.returncode == 1
    assert "--number" in refused.stderr

    accepted = run_cli("accept", "--state", state, "--number", row.number)
    assert accepted.returncode == 0, accepted.stderr
    assert "Accepted." in accepted.stdout
    row.refresh_from_db()
    assert row.status == PushChallenge.Status.APPROVED


@live
def test_cli_decline_not_me_is_sent_as_unknown_trigger(server_request, enrollment, phone, capsys):
    row = send(server_request, enrollment)

    assert main(["decline", "--state", str(phone.state_file), "--reason", "not_me"]) == 0

    row.refresh_from_db()
    assert (row.status, row.decline_reason) == (PushChallenge.Status.DENIED, "unknown_trigger")
    assert "Declined (not_me)." in capsys.readouterr().out
