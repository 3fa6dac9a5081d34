"""FCM failing does not fail the push login (issue 7): 503, a send that hangs, a refused token exchange.

A real gunicorn on PostgreSQL sends through firebase-admin's and google-auth's own code to a fake
Google (bench/fake_google.py) reached through an HTTPS CONNECT proxy: only the network is fake.
For each fault two push logins run from the password to the home page, the reference phone
client (bench/push_seed.BenchPhone) polling as the store app does: the first finds FCM failing,
the second comes during the outage, when the circuit breaker (auth_enforcement/transport.py)
lets it skip FCM. The tests below each check one property of what a login saw.
"""

from __future__ import annotations

import json
import re
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import psycopg2
import pytest
from django.conf import settings
from django.db import connection

from bench import harness, push_seed, seed
from bench.client import Browser, UnexpectedAnswerError, finish_push_login, login_form_fields, push_password_step
from bench.fake_google import FakeGoogle, make_test_pki

pytestmark = pytest.mark.skipif(connection.vendor != "postgresql", reason="fault tests run in the PostgreSQL pass")
DATABASE = "jweb_fault_fcm"
FAULTS = [FakeGoogle.UNAVAILABLE, FakeGoogle.HANG, FakeGoogle.REFUSE_TOKEN]
TOKEN_PREFIX = "fault-fcm"
# gunicorn reads the same environment as this process: JWEB_FCM_TIMEOUT_SECONDS, 5 s by default.
TIMEOUT = settings.JWEB_FCM_TIMEOUT_SECONDS
# On top of the timeout: the password hash, the challenge's RSA-4096 signature, firebase-admin's
# first import and the token exchange through the proxy (well under a second when idle).
MARGIN = 3.0
POLL_INTERVAL = 0.5  # static/js/push-wait.js's POLL_MS
# messages:send requests per login, from auth_enforcement/transport.py's FCM_RETRY: one retry,
# at once, after a 503 (FCM surely did not take the message); none after a read timeout (it may
# have: a second notification for one login); none at all without an access token.
SENDS_PER_LOGIN = {FakeGoogle.UNAVAILABLE: 2, FakeGoogle.HANG: 1, FakeGoogle.REFUSE_TOKEN: 0}
# The password step of a login during the outage: the hash and the challenge's RSA-4096
# signature; nothing waits for Google.
WITHOUT_FCM = 1.0
# What the audit trail says, per fault (transport._fcm_reason / _oauth_reason).
REASONS = {
    FakeGoogle.UNAVAILABLE: "FCM UnavailableError (HTTP 503)",
    FakeGoogle.HANG: "FCM DeadlineExceededError",
    FakeGoogle.REFUSE_TOKEN: "OAuth token RefreshError invalid_grant",
}
# The page is Japanese by default (bench.client.Browser asks for it): transport._could_not_send().
NOT_SENT = (
    "スマートフォンに通知を送信できませんでした。スマートフォンの認証アプリを開いて、このログインを承認してください。"
)


@pytest.fixture(scope="module")
def database():
    env = harness.prepare(DATABASE)
    # Two push users per fault, each with an FCM registration token: the portal tries FCM for them.
    harness.run_in_django(env, "bench.push_seed", str(2 * len(FAULTS)), "0", str(push_seed.KEYS), TOKEN_PREFIX)
    return env


@pytest.fixture(scope="module")
def pki():
    with tempfile.TemporaryDirectory(prefix="jweb-fault-fcm-") as directory:
        yield make_test_pki(Path(directory))


def sql(query: str, *params):
    with psycopg2.connect(f"{harness.PG_SERVER}/{DATABASE}") as db, db.cursor() as cursor:
        cursor.execute(query, params)
        return cursor.fetchall()


def sent(fake: FakeGoogle, since: dict[str, int] | None = None) -> dict[str, int]:
    """What reached Google (since a former count): token exchanges and messages:send requests."""
    counts, since = fake.snapshot(), since or {}
    return {name: counts[name] - since.get(name, 0) for name in ("token", "send")}


@dataclass
class FailedLogin:
    """What one push login saw while FCM failed, from the password to the home page."""

    fault: str
    login_id: str
    password_step_seconds: float
    alerts: list[str]
    sent_by_password_step: dict[str, int]
    sent_while_waiting: dict[str, int]
    sent_by_whole_login: dict[str, int]
    statuses_while_waiting: list[str]
    challenges_on_phone: int
    outcome: str


def push_login(url: str, fake: FakeGoogle, fault: str, n: int) -> FailedLogin:
    """Log user n in with push while Google fails, from the password to the home page."""
    before = sent(fake)
    browser = Browser(url)
    started = time.monotonic()
    number, page = push_password_step(browser, "fx", seed.login_id(n), seed.PASSWORD)
    password_step_seconds = time.monotonic() - started
    sent_by_password_step = sent(fake, before)

    # The waiting page asks for the status twice a second, and "I have approved it"
    # pressed too early shows the page again: neither may send another push.
    statuses = []
    for _ in range(3):
        time.sleep(POLL_INTERVAL)
        statuses.append(json.loads(browser.expect("GET", push_seed.STATUS_URL, 200)[1])["status"])
    browser.expect("POST", "/fx/login/", 200, login_form_fields(page))
    sent_while_waiting = sent(fake, before)

    # The phone got no notification: the user opens the app, which polls and finds the request.
    app_key, server_key = push_seed.keys()
    phone = push_seed.BenchPhone(url, n, app_key, push_seed.server_public_key_body(server_key))
    phone.session.trust_env = False  # straight to the portal, never through a proxy
    challenges = phone.poll().challenges
    outcome = f"the phone found {len(challenges)} requests"
    if len(challenges) == 1:
        phone.accept(challenges[0], number)
        try:
            finish_push_login(browser, "fx", page)  # what push-wait.js does on "approved"
            outcome = "home"
        except UnexpectedAnswerError as error:
            outcome = str(error)
    browser.close()
    return FailedLogin(
        fault=fault,
        login_id=seed.login_id(n),
        password_step_seconds=password_step_seconds,
        alerts=re.findall(r'<div class="form-errors" role="alert">(.*?)</div>', page.decode(), re.S),
        sent_by_password_step=sent_by_password_step,
        sent_while_waiting=sent_while_waiting,
        sent_by_whole_login=sent(fake, before),
        statuses_while_waiting=statuses,
        challenges_on_phone=len(challenges),
        outcome=outcome,
    )


@pytest.fixture(scope="module", params=FAULTS)
def outage(request, database, pki) -> tuple[FailedLogin, FailedLogin]:
    """The login that finds Google failing, then one that comes during the outage."""
    fault, n = request.param, FAULTS.index(request.param)
    fake = FakeGoogle(harness.free_port(), pki, fault=fault)
    fake.hang_seconds = TIMEOUT + 30  # longer than the send's timeout: only the client can end it
    fake.start()
    try:
        # One worker: its first push makes the Firebase app and fetches the access token. The
        # circuit breaker's state is in its local-memory cache, whatever CACHE_URL this process
        # has: each fault starts with a closed circuit, on a server of its own.
        env = {**database, **fake.server_env(), "CACHE_URL": "locmem://"}
        with harness.gunicorn(env, workers=1) as url:
            first = push_login(url, fake, fault, n)
            # Well within the 30-second cool-off (300 s after the 503's Retry-After).
            during = push_login(url, fake, fault, n + len(FAULTS))
            return first, during
    finally:
        fake.stop()


@pytest.fixture(scope="module")
def failed_login(outage) -> FailedLogin:
    return outage[0]


@pytest.fixture(scope="module")
def login_during_the_outage(outage) -> FailedLogin:
    return outage[1]


def test_the_waiting_page_tells_the_user_the_notification_was_not_sent(failed_login):
    # Not a silent wait for a notification that will never ring: the alert says to open the app.
    # (push_password_step has also found the number to tap on it.)
    assert failed_login.alerts == [NOT_SENT]


def test_the_login_completes_by_polling_when_fcm_fails(failed_login):
    assert failed_login.statuses_while_waiting == ["pending"] * 3
    assert failed_login.challenges_on_phone == 1
    assert failed_login.outcome == "home"


def test_a_failed_send_is_not_retried_into_a_storm(failed_login):
    # One token exchange (google-auth retries only 5xx, 429 and "temporarily_unavailable"
    # answers, not invalid_grant), and the sends transport.FCM_RETRY allows, no more.
    assert failed_login.sent_by_password_step == {"token": 1, "send": SENDS_PER_LOGIN[failed_login.fault]}
    # Status polls, the page shown again, the phone's approval and the login's end send nothing.
    assert failed_login.sent_while_waiting == failed_login.sent_by_password_step
    assert failed_login.sent_by_whole_login == failed_login.sent_by_password_step


def test_the_password_step_waits_for_fcm_no_longer_than_the_send_timeout(failed_login):
    # A 503 with "Retry-After: 3600" is not slept on; a send that never answers is given up
    # after JWEB_FCM_TIMEOUT_SECONDS: an FCM outage holds a login worker that long, no longer.
    assert failed_login.password_step_seconds < TIMEOUT + MARGIN
    if failed_login.fault == FakeGoogle.HANG:
        assert failed_login.password_step_seconds >= TIMEOUT  # the send did hang until the timeout


NOT_DELIVERED = """
    SELECT event.details->>'error' FROM auth_enforcement_authevent event
    JOIN contracts_user subject ON subject.id = event.subject_id
    WHERE event.kind = 'push_not_delivered' AND subject.login_id = %s
"""


def test_an_undelivered_push_is_audited_once_with_the_reason(failed_login):
    assert sql(NOT_DELIVERED, failed_login.login_id) == [(REASONS[failed_login.fault],)]


# -- a login during the outage: the circuit breaker is open ---------------------------------


def test_a_login_during_the_outage_does_not_wait_for_google(login_during_the_outage):
    # No token exchange, no send: the worker is not held for FCM's timeout login after login.
    assert login_during_the_outage.sent_by_whole_login == {"token": 0, "send": 0}
    assert login_during_the_outage.password_step_seconds < WITHOUT_FCM


def test_a_login_during_the_outage_looks_like_one_whose_send_failed(login_during_the_outage):
    assert login_during_the_outage.alerts == [NOT_SENT]
    assert login_during_the_outage.statuses_while_waiting == ["pending"] * 3
    assert login_during_the_outage.challenges_on_phone == 1
    assert login_during_the_outage.outcome == "home"


def test_a_login_during_the_outage_is_audited_as_not_tried(login_during_the_outage):
    ((reason,),) = sql(NOT_DELIVERED, login_during_the_outage.login_id)
    assert re.fullmatch(
        rf"FCM not tried: unavailable since \d{{4}}-\d\d-\d\d \d\d:\d\d:\d\d UTC "
        rf"\({re.escape(REASONS[login_during_the_outage.fault])}\)",
        reason,
    )
