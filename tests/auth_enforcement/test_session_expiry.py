from datetime import timedelta

import time_machine
from django.contrib.sessions.models import Session
from django.utils import timezone

from tests.conftest import log_in_with_totp

MINUTE = timedelta(minutes=1)


def test_session_survives_29_idle_minutes(client, fx_user, fx_totp):
    with time_machine.travel(timezone.now(), tick=False) as clock:
        log_in_with_totp(client, fx_user, fx_totp)
        client.get("/home/")
        clock.shift(29 * MINUTE)
        assert client.get("/home/").status_code == 200


def test_session_ends_after_31_idle_minutes(client, fx_user, fx_totp):
    with time_machine.travel(timezone.now(), tick=False) as clock:
        log_in_with_totp(client, fx_user, fx_totp)
        client.get("/home/")
        clock.shift(31 * MINUTE)
        response = client.get("/home/")
        assert response.status_code == 302
        assert response["Location"] == "/?next=/home/"


def test_activity_keeps_the_session_alive(client, fx_user, fx_totp):
    with time_machine.travel(timezone.now(), tick=False) as clock:
        log_in_with_totp(client, fx_user, fx_totp)
        for _ in range(4):  # two hours in all, never 30 minutes idle
            client.get("/home/")
            clock.shift(29 * MINUTE)
        assert client.get("/home/").status_code == 200


def test_session_ends_after_12_hours_however_active(client, fx_user, fx_totp):
    with time_machine.travel(timezone.now(), tick=False) as clock:
        log_in_with_totp(client, fx_user, fx_totp)
        client.get("/home/")
        for _ in range(12 * 3):  # a request every 20 minutes
            clock.shift(20 * MINUTE)
            client.get("/home/")
        clock.shift(MINUTE)
        response = client.get("/home/")
        assert response.status_code == 302
        assert response["Location"].startswith("/fx/login/")


def test_idle_limit_is_enforced_on_the_server_even_if_the_stored_expiry_is_later(client, settings, fx_user, fx_totp):
    # With a cache-backed session store the stored expiry may lag; the middleware's own
    # clock still ends the session at the idle limit.
    settings.SESSION_COOKIE_AGE = 24 * 3600
    with time_machine.travel(timezone.now(), tick=False) as clock:
        log_in_with_totp(client, fx_user, fx_totp)
        client.get("/home/")
        key = client.session.session_key
        clock.shift(31 * MINUTE)
        response = client.get("/home/")
        assert response["Location"] == "/fx/login/"
        assert not Session.objects.filter(session_key=key).exists()
