import re
import threading
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from cryptography.hazmat.primitives import serialization
from django.core import mail
from django.db import connection
from django.test import Client
from django.utils import timezone

from auth_enforcement.models import Authenticator, AuthEvent, PushChallenge, Registration
from tests.auth_enforcement.conftest import app_signature, server_signature_is_valid
from tests.conftest import log_in, submit_code

pytestmark = pytest.mark.usefixtures("english")


def challenge_of(user) -> PushChallenge:
    return PushChallenge.objects.filter(user=user).latest("created_at")


def answer(client, keys, challenge, presence=None, decline=False, reason="", key=None):
    """Answer as the phone app: a signed form POST to the device API."""
    serial = challenge.authenticator.serial
    if decline:
        message = f"{challenge.nonce}|{serial}|decline" + (f"|{reason}" if reason else "")
        data = {"decline": "1", **({"decline_reason": reason} if reason else {})}
    else:
        message = f"{challenge.nonce}|{serial}" + (f"|{presence}" if presence else "")
        data = {"presence_answer": presence} if presence else {}
    data.update(nonce=challenge.nonce, serial=serial, signature=app_signature(key or keys["app"], message))
    return Client().post("/device/push/", data, secure=True)


def poll(keys, serial, at=None, key=None):
    stamp = (at or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    signature = app_signature(key or keys["app"], f"{serial}|{stamp}")
    return Client().get("/device/push/", {"serial": serial, "timestamp": stamp, "signature": signature}, secure=True)


def status(client) -> str:
    return client.get("/login/push/status/").json()["status"]


def logged_in(client) -> bool:
    return "_auth_user_id" in client.session


def test_login_page_shows_the_number_to_tap(client, fx_user, fx_push):
    page = log_in(client, "fx", "taro01").content.decode()
    challenge = challenge_of(fx_user)
    assert f'<strong id="push-number">{challenge.number}</strong>' in page
    assert challenge.number in challenge.options.split(",") and len(challenge.options.split(",")) == 3
    assert "open the app (or pull down to refresh it)" in page  # poll-only: the phone does not ring


def test_the_waiting_page_carries_the_step_in_each_of_its_forms_and_repeats_no_id(client, fx_user, fx_push):
    page = log_in(client, "fx", "taro01").content.decode()
    ids = re.findall(r'\sid="([^"]+)"', page)
    assert len(ids) == len(set(ids))
    own_forms = [form for form in re.findall(r"<form method=\"post\".*?</form>", page, re.S) if "action=" not in form]
    assert len(own_forms) == 3  # the approval, "send again", "start again"
    for form in own_forms:
        assert '<input type="hidden" name="entrance_login_view-current_step" value="token">' in form


def test_approval_with_the_right_number_completes_the_login(client, keys, fx_user, fx_push):
    log_in(client, "fx", "taro01")
    challenge = challenge_of(fx_user)
    assert status(client) == "pending"
    assert answer(client, keys, challenge, presence=challenge.number).json()["result"] == {
        "status": True,
        "value": True,
    }
    assert status(client) == "approved"
    assert submit_code(client, "fx", "")["Location"] == "/home/"
    assert logged_in(client)
    assert PushChallenge.objects.get(pk=challenge.pk).status == PushChallenge.Status.USED


def test_wrong_number_is_refused_and_the_challenge_stays_open(client, keys, fx_user, fx_push):
    log_in(client, "fx", "taro01")
    challenge = challenge_of(fx_user)
    wrong = next(n for n in challenge.options.split(",") if n != challenge.number)
    assert answer(client, keys, challenge, presence=wrong).json()["result"] == {"status": True, "value": False}
    assert PushChallenge.objects.get(pk=challenge.pk).status == PushChallenge.Status.PENDING
    assert submit_code(client, "fx", "").status_code == 200
    assert not logged_in(client)
    assert answer(client, keys, challenge, presence=challenge.number).json()["result"]["value"] is True


def test_approval_without_the_number_is_refused(client, keys, fx_user, fx_push):
    log_in(client, "fx", "taro01")
    assert answer(client, keys, challenge_of(fx_user)).json()["result"]["value"] is False


def test_an_approval_never_completes_another_sessions_login(keys, fx_user, fx_push):
    victim, attacker = Client(), Client()
    for browser in (victim, attacker):
        browser.defaults["wsgi.url_scheme"] = "https"
    log_in(victim, "fx", "taro01", secure=True)
    victim_challenge = challenge_of(fx_user)
    log_in(attacker, "fx", "taro01", secure=True)
    assert challenge_of(fx_user).pk != victim_challenge.pk
    answer(victim, keys, victim_challenge, presence=victim_challenge.number)
    assert attacker.get("/login/push/status/", secure=True).json()["status"] == "pending"
    response = attacker.post(
        "/fx/login/", {"entrance_login_view-current_step": "token", "token-otp_token": ""}, secure=True
    )
    assert response.status_code == 200 and "_auth_user_id" not in attacker.session


def test_the_browser_cannot_choose_which_approval_it_uses(client, keys, fx_user, fx_push):
    log_in(client, "fx", "taro01")
    mine = challenge_of(fx_user)
    other = Client()
    log_in(other, "fx", "taro01", secure=True)
    theirs = challenge_of(fx_user)
    answer(client, keys, theirs, presence=theirs.number)
    # Sending the other attempt's value as the "token" changes nothing: the session decides.
    response = submit_code(client, "fx", theirs.attempt)
    assert response.status_code == 200 and not logged_in(client)
    assert mine.attempt != theirs.attempt


def test_challenge_expires_after_120_seconds(client, keys, frozen, fx_user, fx_push):
    log_in(client, "fx", "taro01")
    challenge = challenge_of(fx_user)
    frozen.shift(timedelta(seconds=121))
    body = answer(client, keys, challenge, presence=challenge.number).json()
    assert body["result"]["status"] is False
    assert status(client) == "expired"
    assert PushChallenge.objects.get(pk=challenge.pk).status == PushChallenge.Status.PENDING


def test_a_challenge_is_answered_once(client, keys, fx_user, fx_push):
    log_in(client, "fx", "taro01")
    challenge = challenge_of(fx_user)
    answer(client, keys, challenge, presence=challenge.number)
    again = answer(client, keys, challenge, decline=True, reason="unknown_trigger")
    assert again.status_code == 400 and again.json()["result"]["status"] is False
    assert PushChallenge.objects.get(pk=challenge.pk).status == PushChallenge.Status.APPROVED


@pytest.mark.parametrize("forgery", ["wrong key", "other nonce", "garbage"])
def test_badly_signed_answer_changes_nothing(client, keys, fx_user, fx_push, forgery):
    log_in(client, "fx", "taro01")
    challenge = challenge_of(fx_user)
    if forgery == "wrong key":
        response = answer(client, keys, challenge, presence=challenge.number, key=keys["server"])
    else:
        serial = challenge.authenticator.serial
        signature = app_signature(keys["app"], f"OTHERNONCE|{serial}|{challenge.number}")
        if forgery == "garbage":
            signature = "NOT-BASE32!"
        response = Client().post(
            "/device/push/",
            {"nonce": challenge.nonce, "serial": serial, "signature": signature, "presence_answer": challenge.number},
            secure=True,
        )
    assert response.status_code == 400
    assert response.json()["result"]["error"]["message"] == "signature does not match"
    assert PushChallenge.objects.get(pk=challenge.pk).status == PushChallenge.Status.PENDING


def test_poll_returns_the_open_challenge_signed_by_the_server(client, keys, fx_user, fx_push):
    log_in(client, "fx", "taro01")
    challenge = challenge_of(fx_user)
    (item,) = poll(keys, fx_push.authenticator.serial).json()["result"]["value"]
    assert item["nonce"] == challenge.nonce and item["require_presence"] == challenge.options
    assert item["capabilities"] == '{"decline_reason": true}'
    message = "|".join(
        [item[k] for k in ("nonce", "url", "serial", "question", "title", "sslverify", "require_presence")]
    )
    assert server_signature_is_valid(keys["server"].public_key(), item["signature"], message)
    assert item["url"] == "https://testserver/device/push/" and item["sslverify"] == "1"


def test_poll_costs_one_query_and_writes_nothing(client, keys, fx_user, fx_push, django_assert_num_queries):
    log_in(client, "fx", "taro01")
    with django_assert_num_queries(1):
        assert len(poll(keys, fx_push.authenticator.serial).json()["result"]["value"]) == 1


@pytest.mark.parametrize("problem", ["stale", "future", "wrong key", "unknown serial"])
def test_bad_poll_is_refused(keys, fx_push, problem):
    serial, at, key = fx_push.authenticator.serial, None, None
    if problem == "stale":
        at = datetime.now(UTC) - timedelta(seconds=61)
    elif problem == "future":
        at = datetime.now(UTC) + timedelta(seconds=61)
    elif problem == "wrong key":
        key = keys["server"]
    else:
        serial = "JWP000000000"
    response = poll(keys, serial, at=at, key=key)
    assert response.status_code == 400
    assert response.json()["result"]["status"] is False


def test_pushes_are_rate_limited_per_user(client, settings, fx_user, fx_push):
    log_in(client, "fx", "taro01")  # push 1
    for _ in range(settings.JWEB_PUSH_MAX_PER_WINDOW - 1):
        client.post("/fx/login/", {"entrance_login_view-current_step": "token", "push_resend": "1"})
    assert PushChallenge.objects.count() == settings.JWEB_PUSH_MAX_PER_WINDOW
    page = client.post("/fx/login/", {"entrance_login_view-current_step": "token", "push_resend": "1"})
    assert "Too many push requests" in page.content.decode()
    assert PushChallenge.objects.count() == settings.JWEB_PUSH_MAX_PER_WINDOW
    assert AuthEvent.objects.filter(kind=AuthEvent.Kind.PUSH_RATE_LIMITED, subject=fx_user).exists()


def test_resending_does_not_reset_the_failure_count(client, fx_user, fx_push):
    Authenticator.objects.filter(pk=fx_push.authenticator_id).update(throttling_failure_count=2)
    log_in(client, "fx", "taro01")
    client.post("/fx/login/", {"entrance_login_view-current_step": "token", "push_resend": "1"})
    assert Authenticator.objects.get(pk=fx_push.authenticator_id).throttling_failure_count == 2


def wrong_number_of(challenge: PushChallenge) -> str:
    return next(n for n in challenge.options.split(",") if n != challenge.number)


def test_wrong_numbers_count_towards_the_lock_and_sending_again_resets_nothing(
    client, keys, fx_user, fx_push, settings
):
    settings.JWEB_LOCK_AFTER_FAILURES, settings.JWEB_PUSH_MAX_PER_WINDOW = 3, 10
    mail.outbox.clear()
    log_in(client, "fx", "taro01")
    for _ in range(3):
        answer(client, keys, challenge_of(fx_user), presence=wrong_number_of(challenge_of(fx_user)))
        client.post("/fx/login/", {"entrance_login_view-current_step": "token", "push_resend": "1"})
    authenticator = Authenticator.objects.get(pk=fx_push.authenticator_id)
    assert authenticator.is_locked and authenticator.throttling_failure_count == 3
    assert AuthEvent.objects.filter(kind=AuthEvent.Kind.LOCKED, subject=fx_user).count() == 1
    assert [m.to for m in mail.outbox] == [["taro@example.jp"]]
    # Locked: no push goes to the phone for a login it could not complete, and the page says why.
    sent = PushChallenge.objects.count()
    fresh = type(client)()
    page = log_in(fresh, "fx", "taro01").content.decode()
    assert "has been locked after too many wrong codes" in page
    assert PushChallenge.objects.count() == sent
    submit_code(fresh, "fx", "")
    assert not logged_in(fresh)


def test_a_slip_then_the_right_number_logs_in_at_once_and_the_count_starts_again(client, keys, fx_user, fx_push):
    log_in(client, "fx", "taro01")
    challenge = challenge_of(fx_user)
    answer(client, keys, challenge, presence=wrong_number_of(challenge))
    assert Authenticator.objects.get(pk=fx_push.authenticator_id).throttling_failure_count == 1
    answer(client, keys, challenge, presence=challenge.number)
    assert submit_code(client, "fx", "").status_code == 302  # no growing wait after a wrong tap
    assert logged_in(client)
    assert Authenticator.objects.get(pk=fx_push.authenticator_id).throttling_failure_count == 0


def test_not_me_blocks_pushes_audits_and_emails_the_user(client, keys, fx_user, fx_push):
    log_in(client, "fx", "taro01")
    answer(client, keys, challenge_of(fx_user), decline=True, reason="unknown_trigger")
    assert status(client) == "denied"
    assert Authenticator.objects.get(pk=fx_push.authenticator_id).push_blocked_until > timezone.now()
    assert AuthEvent.objects.filter(kind=AuthEvent.Kind.PUSH_NOT_ME, subject=fx_user).exists()
    assert [m.to for m in mail.outbox] == [["taro@example.jp"]]
    page = client.post("/fx/login/", {"entrance_login_view-current_step": "token", "push_resend": "1"})
    assert "Push requests are paused" in page.content.decode()
    assert PushChallenge.objects.count() == 1


def test_cancelled_decline_does_not_block(client, keys, fx_user, fx_push):
    log_in(client, "fx", "taro01")
    answer(client, keys, challenge_of(fx_user), decline=True, reason="cancelled")
    assert Authenticator.objects.get(pk=fx_push.authenticator_id).push_blocked_until is None
    assert not mail.outbox


def test_question_shows_edition_user_time_ip_and_browser(client, fx_user, fx_push):
    log_in(
        client, "fx", "taro01", HTTP_USER_AGENT="Mozilla/5.0 (Windows NT 10.0) Chrome/120", REMOTE_ADDR="203.0.113.9"
    )
    question = challenge_of(fx_user).question
    for fact in ("FX edition", "taro01", "JST", "203.0.113.9", "Chrome"):
        assert fact in question


def test_number_matching_can_be_switched_off(client, keys, settings, fx_user, fx_push):
    settings.JWEB_PUSH_NUMBER_MATCHING = False
    log_in(client, "fx", "taro01")
    challenge = challenge_of(fx_user)
    assert challenge.options == ""
    assert answer(client, keys, challenge).json()["result"]["value"] is True
    assert submit_code(client, "fx", "")["Location"] == "/home/"


@pytest.mark.skipif(connection.vendor != "postgresql", reason="row locks need PostgreSQL")
@pytest.mark.django_db(transaction=True)
def test_two_racing_answers_exactly_one_wins(keys, fx_user, push_factory):
    registration = push_factory(fx_user)
    client = Client()
    log_in(client, "fx", "taro01", secure=True)
    challenge = challenge_of(fx_user)
    barrier = threading.Barrier(2)
    results = []

    def respond(decline: bool) -> None:
        barrier.wait()
        if decline:
            response = answer(client, keys, challenge, decline=True, reason="cancelled")
        else:
            response = answer(client, keys, challenge, presence=challenge.number)
        results.append(response.json()["result"]["status"])
        connection.close()

    threads = [threading.Thread(target=respond, args=(flag,)) for flag in (False, True)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(results) == [False, True]
    assert registration.pk


# -- enrollment ---------------------------------------------------------------------------


def qr_fields(page: str) -> dict[str, str]:
    uri = re.search(r'<code id="push-qr-uri" class="uri">([^<]+)</code>', page).group(1).replace("&amp;", "&")
    parts = urlsplit(uri)
    assert parts.scheme == "otpauth" and parts.netloc == "pipush"
    return {k: v[0] for k, v in parse_qs(parts.query).items()} | {"label": parts.path.lstrip("/")}


def roll_out(keys, fields, credential=None):
    pubkey = (
        keys["app"]
        .public_key()
        .public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    import base64

    return Client().post(
        "/device/push/",
        {
            "enrollment_credential": credential or fields["enrollment_credential"],
            "serial": fields["serial"],
            "fbtoken": "no_firebase_token",
            "pubkey": base64.b64encode(pubkey).decode(),
            "capabilities": '["decline_reason"]',
        },
        secure=True,
    )


def test_push_enrollment_from_qr_to_first_approval(client, keys, fx_user):
    log_in(client, "fx", "taro01")
    fields = qr_fields(client.get("/enroll/push/").content.decode())
    assert (fields["label"], fields["issuer"], fields["v"]) == ("taro01", "JWEBOFFICE", "1")
    assert len(fields["enrollment_credential"]) == 40  # 160 bits in hex
    assert client.get("/enroll/push/status/").json()["status"] == "waiting"
    rolled = roll_out(keys, fields).json()
    assert rolled["detail"]["rollout_state"] == "enrolled"
    server_key = serialization.load_der_public_key(
        serialization.load_pem_public_key(
            (
                "-----BEGIN RSA PUBLIC KEY-----\n" + rolled["detail"]["public_key"] + "\n-----END RSA PUBLIC KEY-----\n"
            ).encode()
        ).public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    assert server_key.key_size == 4096
    assert client.get("/enroll/push/status/").json()["status"] == "rolled_out"
    page = client.get("/enroll/push/").content.decode()  # the page sends the first approval
    challenge = challenge_of(fx_user)
    assert challenge.purpose == PushChallenge.Purpose.ENROLLMENT
    assert f'<strong id="push-number">{challenge.number}</strong>' in page
    answer(client, keys, challenge, presence=challenge.number)
    assert client.get("/enroll/push/status/").json() == {"status": "done", "next": "/home/"}
    assert Registration.objects.for_login(fx_user).authenticator.kind == Authenticator.Kind.PUSH
    assert client.get("/home/").status_code == 200  # this session proved the new factor


def test_enrollment_credential_works_once(client, keys, fx_user):
    log_in(client, "fx", "taro01")
    fields = qr_fields(client.get("/enroll/push/").content.decode())
    assert roll_out(keys, fields).json()["result"]["status"] is True
    again = roll_out(keys, fields)
    assert again.status_code == 400 and again.json()["result"]["status"] is False


def test_enrollment_credential_expires_after_ten_minutes(client, keys, frozen, fx_user):
    log_in(client, "fx", "taro01")
    fields = qr_fields(client.get("/enroll/push/").content.decode())
    frozen.shift(timedelta(minutes=10, seconds=1))
    assert roll_out(keys, fields).json()["result"]["status"] is False


def test_a_wrong_enrollment_credential_is_refused(client, keys, fx_user):
    log_in(client, "fx", "taro01")
    fields = qr_fields(client.get("/enroll/push/").content.decode())
    assert roll_out(keys, fields, credential="00" * 20).json()["result"]["status"] is False
    assert not Authenticator.objects.exclude(app_public_key="").exists()


def test_a_new_qr_code_voids_the_previous_one(client, keys, fx_user):
    log_in(client, "fx", "taro01")
    first = qr_fields(client.get("/enroll/push/").content.decode())
    client.get("/enroll/push/")
    assert roll_out(keys, first).json()["result"]["status"] is False


def test_a_totp_user_cannot_start_push_enrollment(client, fx_user, fx_totp):
    from tests.conftest import log_in_with_totp

    log_in_with_totp(client, fx_user, fx_totp)
    assert client.get("/enroll/push/")["Location"] == "/enroll/"


def test_empty_post_is_answered_harmlessly(db):
    response = Client().post("/device/push/", secure=True)
    assert response.status_code == 200 and response.json()["result"] == {"status": True, "value": False}


def test_decline_with_another_reason_is_accepted_as_signed(client, keys, fx_user, fx_push):
    log_in(client, "fx", "taro01")
    challenge = challenge_of(fx_user)
    assert answer(client, keys, challenge, decline=True, reason="busy").json()["result"]["value"] is True
    assert PushChallenge.objects.get(pk=challenge.pk).decline_reason == "other"


def test_device_api_url_is_written_as_the_app_re_parses_it(rf, settings):
    from auth_enforcement.push import device_api_url

    settings.ALLOWED_HOSTS = ["jweb.example.jp"]
    request = rf.get("/", HTTP_HOST="JWEB.Example.jp:443", secure=True)
    assert device_api_url(request) == "https://jweb.example.jp/device/push/"
    settings.JWEB_PUBLIC_URL = "HTTPS://Jweb.Example.JP:8443/"
    assert device_api_url(request) == "https://jweb.example.jp:8443/device/push/"


def test_qr_code_percent_encodes_the_url_as_the_peer_does(client, fx_user):
    log_in(client, "fx", "taro01")
    page = client.get("/enroll/push/").content.decode()
    assert "url=https%3A//testserver/device/push/" in page


def test_question_names_the_browser_from_known_words_only(client, fx_user, fx_push):
    log_in(client, "fx", "taro01", HTTP_USER_AGENT="Evil/1.0 (call 03-0000-0000 and tell us your code)")
    question = challenge_of(fx_user).question
    assert "call" not in question and "? / ?" in question


@pytest.fixture
def fcm_unusable(settings, tmp_path, fx_user, push_factory) -> Registration:
    """FCM configured, but its credentials cannot be used; the user's phone has an FCM token."""
    settings.JWEB_PUSH_TRANSPORT = "fcm"
    settings.JWEB_FCM_CREDENTIALS = str(tmp_path / "missing-service-account.json")
    settings.JWEB_FCM_PROJECT = "jweb-test"
    return push_factory(fx_user, push_token="fcm-token-1")


def test_a_failed_notification_fails_closed_and_the_phone_can_still_poll(client, keys, fx_user, fcm_unusable):
    # The login page says so, the challenge stays fetchable by polling, and approving it
    # still completes the login.
    registration = fcm_unusable
    page = log_in(client, "fx", "taro01").content.decode()
    assert "could not be sent to your phone" in page
    assert AuthEvent.objects.filter(kind=AuthEvent.Kind.PUSH_NOT_DELIVERED, subject=fx_user).exists()
    (item,) = poll(keys, registration.authenticator.serial).json()["result"]["value"]
    challenge = challenge_of(fx_user)
    assert item["nonce"] == challenge.nonce
    answer(client, keys, challenge, presence=challenge.number)
    assert submit_code(client, "fx", "")["Location"] == "/home/"


def test_the_page_shown_again_still_says_the_notification_was_not_sent(client, fx_user, fcm_unusable):
    # Else the user, told nothing, waits for a notification that will never ring.
    log_in(client, "fx", "taro01")
    page = submit_code(client, "fx", "").content.decode()  # "I have approved it", too early
    assert "has not been approved on your smartphone yet" in page
    assert "could not be sent to your phone" in page
    assert PushChallenge.objects.count() == 1  # shown again, not sent again


def test_a_reloaded_waiting_page_still_says_the_notification_was_not_sent(client, keys, fx_user, fcm_unusable):
    log_in(client, "fx", "taro01")
    login = challenge_of(fx_user)
    answer(client, keys, login, presence=login.number)
    submit_code(client, "fx", "")
    client.get("/enroll/switch/")  # switching methods: approve on the phone first

    page = client.get("/enroll/switch/").content.decode()

    assert "could not be sent to your phone" in page
    assert PushChallenge.objects.filter(purpose=PushChallenge.Purpose.REAUTH).count() == 1


def test_a_second_wrong_number_closes_the_request(client, keys, fx_user, fx_push):
    log_in(client, "fx", "taro01")
    challenge = challenge_of(fx_user)
    wrong = [n for n in challenge.options.split(",") if n != challenge.number]
    for number in wrong:
        assert answer(client, keys, challenge, presence=number).json()["result"]["value"] is False
    assert PushChallenge.objects.get(pk=challenge.pk).status == PushChallenge.Status.DENIED
    assert status(client) == "denied"
    assert answer(client, keys, challenge, presence=challenge.number).json()["result"]["status"] is False


def test_showing_the_page_again_sends_no_new_push(client, fx_user, fx_push):
    log_in(client, "fx", "taro01")
    page = submit_code(client, "fx", "").content.decode()  # "I have approved it", too early
    assert "has not been approved on your smartphone yet" in page
    client.get("/fx/login/")
    assert PushChallenge.objects.count() == 1


def test_enrollment_requests_do_not_use_up_the_login_rate_limit(client, keys, settings, fx_user):
    settings.JWEB_PUSH_MAX_PER_WINDOW = 1
    log_in(client, "fx", "taro01")
    fields = qr_fields(client.get("/enroll/push/").content.decode())
    roll_out(keys, fields)
    client.get("/enroll/push/")
    enrollment = challenge_of(fx_user)
    answer(client, keys, enrollment, presence=enrollment.number)
    assert client.get("/enroll/push/status/").json()["status"] == "done"
    client.post("/logout/")
    log_in(client, "fx", "taro01")
    assert challenge_of(fx_user).purpose == PushChallenge.Purpose.LOGIN


def test_a_password_posted_over_a_half_way_login_asks_the_new_users_factor(client, fx_user, fx_push, fx_contract):
    # The session is at the code step for taro01 (a push to taro01's phone); the same browser then
    # posts the password step again for another user, without "start again".
    from jweboffice.contracts.models import User
    from tests.conftest import PASSWORD, register_totp

    other = User.objects.create_user("hanako01", PASSWORD, contract=fx_contract, role="staff", name="花子")
    register_totp(other)
    log_in(client, "fx", "taro01")
    assert PushChallenge.objects.filter(authenticator=fx_push.authenticator).count() == 1
    page = log_in(client, "fx", "hanako01").content.decode()
    assert PushChallenge.objects.filter(authenticator=fx_push.authenticator).count() == 1  # taro01's phone: no push
    assert 'id="push-number"' not in page and 'name="token-otp_token"' in page  # hanako01's code is asked
