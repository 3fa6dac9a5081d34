"""The FCM transport, through firebase-admin's and google-auth's own code; only HTTP is faked."""

from __future__ import annotations

import itertools
import json
import socket
import time
import urllib.parse
from datetime import timedelta

import firebase_admin
import pytest
import requests
import responses
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from django.core.cache import cache
from django.test import override_settings
from django.utils import timezone
from google.auth import jwt

from auth_enforcement.models import Authenticator, PushChallenge
from auth_enforcement.transport import BREAKER_KEY, FCM_APP_NAME, Delivery, deliver

pytestmark = [
    pytest.mark.django_db,
    # The app registers an FCM registration token, which firebase-admin 7.7 still sends but
    # calls deprecated (in favour of Firebase installation IDs).
    pytest.mark.filterwarnings("ignore:Message.token is deprecated:DeprecationWarning"),
]

PROJECT = "jweb-test"
TOKEN_URI = "https://oauth2.test/token"
FCM_URL = f"https://fcm.googleapis.com/v1/projects/{PROJECT}/messages:send"
ACCESS_TOKEN = "ya29.test-access-token"
UNREGISTERED = {
    "error": {
        "code": 404,
        "message": "Requested entity was not found.",
        "status": "NOT_FOUND",
        "details": [{"@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError", "errorCode": "UNREGISTERED"}],
    }
}
UNAVAILABLE = {"error": {"code": 503, "message": "The service is currently unavailable.", "status": "UNAVAILABLE"}}
INVALID_ARGUMENT = {
    "error": {"code": 400, "message": "The registration token is not valid.", "status": "INVALID_ARGUMENT"}
}
TOKEN = {"access_token": ACCESS_TOKEN, "expires_in": 3600, "token_type": "Bearer"}
SENT = {"name": f"projects/{PROJECT}/messages/0:1"}
COULD_NOT_SEND = (
    "The notification could not be sent to your phone. Please open the authentication app "
    "on your phone to approve this login."
)


@pytest.fixture
def service_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture
def service_account(tmp_path, service_key) -> str:
    """Write a service-account file as Google issues it, with our own key and token endpoint."""
    pem = service_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    path = tmp_path / "service-account.json"
    path.write_text(
        json.dumps(
            {
                "type": "service_account",
                "project_id": PROJECT,
                "private_key_id": "test-key-1",
                "private_key": pem,
                "client_email": f"push@{PROJECT}.iam.gserviceaccount.com",
                "client_id": "1234567890",
                "token_uri": TOKEN_URI,
            }
        )
    )
    return str(path)


@pytest.fixture
def fcm(settings, service_account):
    """Switch to FCM; delete the process's Firebase app afterwards so no test sees another's."""
    settings.JWEB_PUSH_TRANSPORT = "fcm"
    settings.JWEB_FCM_CREDENTIALS = service_account
    settings.JWEB_FCM_PROJECT = PROJECT
    settings.JWEB_FCM_TIMEOUT_SECONDS = 5
    cache.delete(BREAKER_KEY)  # the circuit breaker lives in the process's cache: no test sees another's
    yield
    cache.delete(BREAKER_KEY)
    if FCM_APP_NAME in firebase_admin._apps:
        firebase_admin.delete_app(firebase_admin.get_app(FCM_APP_NAME))


@pytest.fixture
def http():
    """Answer requests' HTTP calls; any unregistered URL is refused (no real network)."""
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


@pytest.fixture
def token_endpoint(http):
    return http.post(TOKEN_URI, json=TOKEN)


@pytest.fixture
def phone(fx_user) -> Authenticator:
    return Authenticator.objects.create(
        kind=Authenticator.Kind.PUSH,
        serial="JWP000000001",
        customer=fx_user.customer,
        status=Authenticator.Status.ACTIVE,
        push_token="tok-123",
    )


@pytest.fixture
def next_login(fx_user, phone, frozen):
    """Make the challenge of a new push login, at the (frozen) current time."""
    numbers = itertools.count(1)

    def make() -> PushChallenge:
        n = next(numbers)
        return PushChallenge.objects.create(
            authenticator=phone,
            user=fx_user,
            attempt=f"attempt-{n}",
            nonce=f"NONCEABCDEFGHIJKLMNOPQRSTUVWXYZ{n:06d}",
            number="27",
            options="64,27,91",
            question="JWEBOFFICE へのログインを承認しますか？",
            title="JWEBOFFICE",
            url="https://jweb.example.jp/ttype/push",
            signature="dummy-signature",
            expires_at=timezone.now() + timedelta(seconds=120),
        )

    return make


@pytest.fixture
def challenge(next_login) -> PushChallenge:
    return next_login()


def sent_message(call) -> dict:
    return json.loads(call.request.body)["message"]


def test_challenge_is_sent_as_data_with_a_notification(english, fcm, token_endpoint, http, challenge):
    send = http.post(FCM_URL, json={"name": f"projects/{PROJECT}/messages/0:1"})

    assert deliver(challenge) == Delivery(sent=True)

    assert send.call_count == 1
    assert send.calls[0].request.headers["Authorization"] == f"Bearer {ACCESS_TOKEN}"
    message = sent_message(send.calls[0])
    assert message["token"] == "tok-123"
    assert message["data"] == challenge.wire_fields()
    assert message["notification"] == {"title": "JWEBOFFICE", "body": "Approve your login"}
    # Delivered at once even in Doze, and dropped by FCM when the challenge has expired.
    assert message["android"] == {"priority": "high", "ttl": "120s"}
    assert message["apns"]["headers"] == {
        "apns-priority": "10",
        "apns-expiration": str(int(challenge.expires_at.timestamp())),
    }
    challenge.refresh_from_db()
    assert challenge.transport_error == ""


def test_access_token_is_obtained_with_a_jwt_signed_by_the_service_account_key(
    fcm, token_endpoint, http, challenge, service_key
):
    http.post(FCM_URL, json={"name": f"projects/{PROJECT}/messages/0:1"})

    deliver(challenge)

    form = urllib.parse.parse_qs(token_endpoint.calls[0].request.body.decode())
    public_pem = service_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    # google-auth always names Google's token endpoint as the audience, whatever token_uri says.
    claims = jwt.decode(form["assertion"][0], certs=public_pem, audience="https://oauth2.googleapis.com/token")
    assert claims["iss"] == f"push@{PROJECT}.iam.gserviceaccount.com"
    # firebase-admin asks for cloud-platform (and more): only the account's IAM roles limit it.
    assert "https://www.googleapis.com/auth/cloud-platform" in claims["scope"].split()


def test_app_and_access_token_are_reused_by_the_next_push(fcm, token_endpoint, http, challenge):
    send = http.post(FCM_URL, json={"name": f"projects/{PROJECT}/messages/0:1"})

    assert deliver(challenge).sent
    assert deliver(challenge).sent

    assert send.call_count == 2
    assert token_endpoint.call_count == 1


def test_unregistered_token_marks_the_phone_for_reregistration(english, fcm, token_endpoint, http, challenge, phone):
    http.post(FCM_URL, status=404, json=UNREGISTERED)

    delivery = deliver(challenge)

    assert not delivery.sent
    assert "register the app again" in delivery.user_message
    assert delivery.error == "FCM UnregisteredError (HTTP 404)"
    phone.refresh_from_db()
    assert phone.needs_reregistration
    challenge.refresh_from_db()
    assert challenge.transport_error == "FCM UnregisteredError (HTTP 404)"


def test_unavailable_fcm_is_tried_twice_then_fails_closed(english, fcm, token_endpoint, http, challenge, phone):
    # firebase-admin alone would try five times and sleep for any Retry-After (up to 6 hours).
    send = http.post(FCM_URL, status=503, json=UNAVAILABLE, headers={"Retry-After": "3600"})

    started = time.perf_counter()
    delivery = deliver(challenge)

    assert time.perf_counter() - started < 2
    assert send.call_count == 2
    assert not delivery.sent
    assert "open the authentication app" in delivery.user_message
    assert delivery.error == "FCM UnavailableError (HTTP 503)"
    phone.refresh_from_db()
    assert not phone.needs_reregistration
    challenge.refresh_from_db()
    assert challenge.transport_error == "FCM UnavailableError (HTTP 503)"


def test_server_error_after_a_503_is_not_retried_again(fcm, token_endpoint, http, challenge):
    send = http.post(FCM_URL, status=500, json={"error": {"code": 500, "status": "INTERNAL"}})

    delivery = deliver(challenge)

    assert send.call_count == 2
    assert delivery.error == "FCM InternalError (HTTP 500)"


@pytest.mark.parametrize("timeout", [requests.exceptions.ReadTimeout, requests.exceptions.ConnectTimeout])
def test_timeout_fails_closed(fcm, token_endpoint, http, challenge, timeout):
    send = http.post(FCM_URL, body=timeout("timed out"))

    delivery = deliver(challenge)

    assert send.call_count == 1
    assert not delivery.sent
    assert delivery.user_message
    assert delivery.error == "FCM DeadlineExceededError"


def test_refused_token_exchange_fails_closed_without_calling_fcm(fcm, http, challenge):
    # A revoked service-account key: Google answers 400 invalid_grant; google-auth raises
    # RefreshError, which firebase-admin does not turn into a FirebaseError.
    token = http.post(TOKEN_URI, status=400, json={"error": "invalid_grant", "error_description": "Invalid JWT"})
    send = http.post(FCM_URL, json={"name": "never"})

    delivery = deliver(challenge)

    assert token.call_count == 1
    assert send.call_count == 0
    assert not delivery.sent
    assert delivery.user_message
    assert delivery.error == "OAuth token RefreshError invalid_grant"
    challenge.refresh_from_db()
    assert challenge.transport_error == "OAuth token RefreshError invalid_grant"


def test_unreachable_token_endpoint_fails_closed(fcm, http, challenge):
    # google-auth raises TransportError here: neither a RefreshError nor a FirebaseError.
    http.post(TOKEN_URI, body=requests.exceptions.ConnectTimeout("timed out"))

    delivery = deliver(challenge)

    assert not delivery.sent
    assert delivery.error == "OAuth token TransportError"


def test_unreadable_credentials_fail_closed(fcm, settings, http, challenge, tmp_path):
    settings.JWEB_FCM_CREDENTIALS = str(tmp_path / "missing.json")

    delivery = deliver(challenge)

    assert not delivery.sent
    assert delivery.user_message
    assert len(http.calls) == 0


def test_poll_mode_sends_nothing(settings, http, challenge):
    settings.JWEB_PUSH_TRANSPORT = "poll"

    assert deliver(challenge) == Delivery(sent=False)

    assert len(http.calls) == 0
    assert FCM_APP_NAME not in firebase_admin._apps


def test_phone_without_push_token_is_not_sent_to(fcm, http, challenge, phone):
    phone.push_token = ""
    phone.save()

    assert deliver(challenge) == Delivery(sent=False)

    assert len(http.calls) == 0


def test_phone_marked_for_reregistration_is_not_sent_to(fcm, http, challenge, phone):
    phone.needs_reregistration = True
    phone.save()

    assert deliver(challenge) == Delivery(sent=False)

    assert len(http.calls) == 0


def test_expired_challenge_is_not_sent(fcm, http, challenge, frozen):
    frozen.shift(timedelta(seconds=121))

    delivery = deliver(challenge)

    assert not delivery.sent
    assert len(http.calls) == 0
    assert delivery.error == "challenge expired before sending"


# -- the circuit breaker: an FCM outage is paid for by one login per cool-off, not by every one --


def skipped_since(instant) -> str:
    """How the reason of a skipped send begins, FCM having failed at `instant`."""
    return f"FCM not tried: unavailable since {instant:%Y-%m-%d %H:%M:%S} UTC"


# Where Google fails, how, and the reason audited for the login that found out.
OUTAGES = {
    "FCM 503": (FCM_URL, {"status": 503, "json": UNAVAILABLE}, "FCM UnavailableError (HTTP 503)"),
    "FCM 500": (FCM_URL, {"status": 500, "json": {"error": {"code": 500}}}, "FCM InternalError (HTTP 500)"),
    "FCM timeout": (FCM_URL, {"body": requests.exceptions.ReadTimeout("timed out")}, "FCM DeadlineExceededError"),
    "FCM unreachable": (FCM_URL, {"body": requests.exceptions.ConnectionError("refused")}, "FCM UnavailableError"),
    "token endpoint unreachable": (
        TOKEN_URI,
        {"body": requests.exceptions.ConnectTimeout("timed out")},
        "OAuth token TransportError",
    ),
    "key refused": (
        TOKEN_URI,
        {"status": 400, "json": {"error": "invalid_grant", "error_description": "Invalid JWT"}},
        "OAuth token RefreshError invalid_grant",
    ),
}


@pytest.mark.parametrize("outage", OUTAGES.values(), ids=OUTAGES.keys())
def test_after_an_outage_the_next_push_is_not_sent_for_30_seconds(english, fcm, http, frozen, next_login, outage):
    where, answer, cause = outage
    if where == FCM_URL:
        http.post(TOKEN_URI, json=TOKEN)
    http.post(where, **answer)
    failed_at = timezone.now()
    assert deliver(next_login()).error == cause
    calls = len(http.calls)
    frozen.shift(timedelta(seconds=29))

    skipped = next_login()
    delivery = deliver(skipped)

    assert len(http.calls) == calls  # no token request, no send
    assert delivery == Delivery(sent=False, user_message=COULD_NOT_SEND, error=f"{skipped_since(failed_at)} ({cause})")
    skipped.refresh_from_db()
    assert skipped.transport_error == delivery.error


def test_after_30_seconds_one_push_tries_fcm_again(fcm, token_endpoint, http, frozen, next_login):
    send = http.post(FCM_URL, status=503, json=UNAVAILABLE)
    deliver(next_login())
    assert send.call_count == 2  # FCM_RETRY's one retry
    frozen.shift(timedelta(seconds=31))

    delivery = deliver(next_login())

    assert send.call_count == 4
    assert delivery.error == "FCM UnavailableError (HTTP 503)"


def test_a_failed_try_after_the_cool_off_keeps_the_outages_start(fcm, token_endpoint, http, frozen, next_login):
    http.post(FCM_URL, status=503, json=UNAVAILABLE)
    failed_at = timezone.now()
    deliver(next_login())
    frozen.shift(timedelta(seconds=31))
    deliver(next_login())  # FCM tried again, still down: another 30 s
    frozen.shift(timedelta(seconds=29))

    delivery = deliver(next_login())

    assert delivery.error == f"{skipped_since(failed_at)} (FCM UnavailableError (HTTP 503))"


def test_while_one_push_tries_fcm_again_the_others_are_not_sent(fcm, token_endpoint, http, frozen, next_login):
    # Only one login (of every app server) pays for finding out whether FCM is back.
    http.post(FCM_URL, status=503, json=UNAVAILABLE)
    deliver(next_login())
    frozen.shift(timedelta(seconds=31))
    meanwhile = []

    def fcm_answers_after_another_login_came(request):
        meanwhile.append(deliver(next_login()))
        return 200, {}, json.dumps(SENT)

    http.remove(responses.POST, FCM_URL)  # FCM is back, and slow to answer
    http.add_callback(responses.POST, FCM_URL, callback=fcm_answers_after_another_login_came)

    assert deliver(next_login()).sent

    (other,) = meanwhile
    assert not other.sent
    assert other.error.startswith("FCM not tried: unavailable since ")


def test_a_successful_send_closes_the_circuit(fcm, token_endpoint, http, frozen, next_login):
    http.post(FCM_URL, status=503, json=UNAVAILABLE)
    deliver(next_login())
    http.replace(responses.POST, FCM_URL, json=SENT)  # FCM is back
    frozen.shift(timedelta(seconds=31))
    assert deliver(next_login()).sent  # the one login that tries again

    # Not half-open any more: every push is sent again, at once.
    assert deliver(next_login()).sent
    assert deliver(next_login()).sent


@pytest.mark.parametrize(
    "status, answer",
    [(404, UNREGISTERED), (400, INVALID_ARGUMENT)],
    ids=["UNREGISTERED", "INVALID_ARGUMENT"],
)
def test_an_error_about_one_phone_does_not_stop_the_next_push(
    fcm, token_endpoint, http, next_login, phone, status, answer
):
    refused = http.post(FCM_URL, status=status, json=answer)
    assert deliver(next_login()).error.startswith("FCM ")
    assert refused.call_count == 1
    http.replace(responses.POST, FCM_URL, json=SENT)
    phone.push_token, phone.needs_reregistration = "tok-456", False  # the app registered again
    phone.save()

    assert deliver(next_login()).sent


@pytest.mark.parametrize(
    "retry_after, still_skipped_at, tried_again_at",
    [("60", 59, 61), ("3600", 299, 301), ("1", 9, 11), ("Wed, 21 Oct 2099 07:28:00 GMT", 29, 31)],
    ids=["honoured", "at most 5 minutes", "at least 10 seconds", "a date: the default"],
)
def test_retry_after_sets_the_cool_off_within_10_s_to_5_minutes(
    fcm, token_endpoint, http, frozen, next_login, retry_after, still_skipped_at, tried_again_at
):
    send = http.post(FCM_URL, status=503, json=UNAVAILABLE, headers={"Retry-After": retry_after})
    deliver(next_login())
    frozen.shift(timedelta(seconds=still_skipped_at))
    assert deliver(next_login()).error.startswith("FCM not tried")
    assert send.call_count == 2
    frozen.shift(timedelta(seconds=tried_again_at - still_skipped_at))

    deliver(next_login())

    assert send.call_count == 4


@pytest.fixture
def redis_stopped():
    """Point the cache at a Redis that is not running, as when it stops under the portal."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    redis = {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": f"redis://127.0.0.1:{port}/0"}
    with override_settings(CACHES={"default": redis}):  # undone before `fcm` cleans the real cache
        yield


def test_a_stopped_cache_leaves_every_push_to_be_tried(fcm, token_endpoint, http, next_login, redis_stopped):
    http.post(FCM_URL, status=503, json=UNAVAILABLE)
    assert deliver(next_login()).error == "FCM UnavailableError (HTTP 503)"  # no error of the cache's
    send = http.replace(responses.POST, FCM_URL, json=SENT)

    assert deliver(next_login()).sent  # nothing could be remembered: FCM is tried

    assert send.call_count == 1
