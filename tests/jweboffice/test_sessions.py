"""The session store: Django's behaviour with fewer writes (jweboffice/sessions.py)."""

from datetime import timedelta
from http.cookies import SimpleCookie

import pytest
from django.contrib.sessions.backends.base import UpdateError
from django.contrib.sessions.models import Session
from django.db import connection
from django.test.utils import CaptureQueriesContext

from jweboffice.sessions import SessionStore
from jweboffice.statements import statement_of
from tests.conftest import log_in, submit_code, totp_code

pytestmark = pytest.mark.django_db


def session_statements(queries) -> list[str]:
    statements = [statement_of(q["sql"]) for q in queries]
    return [sql.split(" ", 1)[0] for sql in statements if "django_session" in sql]


def test_the_half_way_session_opens_nothing_after_the_second_factor(client, frozen, fx_user, fx_totp):
    log_in(client, "fx", "taro01")
    half_way = client.session.session_key
    submit_code(client, "fx", totp_code(fx_totp.authenticator))
    assert not Session.objects.filter(session_key=half_way).exists()
    client.cookies = SimpleCookie({"jweb_session": half_way})  # a fixated or stolen pre-login cookie
    assert client.get("/home/").status_code == 302


def test_the_second_factor_step_reads_the_session_once_and_writes_it_once(client, frozen, fx_user, fx_totp):
    log_in(client, "fx", "taro01")
    with CaptureQueriesContext(connection) as queries:
        assert submit_code(client, "fx", totp_code(fx_totp.authenticator))["Location"] == "/home/"
    assert session_statements(queries) == ["SELECT", "UPDATE"]


def test_looking_at_the_login_page_leaves_no_session(client, db):
    with CaptureQueriesContext(connection) as queries:
        response = client.get("/fx/login/")
    assert 'name="auth-username"' in response.content.decode()
    assert session_statements(queries) == []
    assert "jweb_session" not in response.cookies
    assert not Session.objects.exists()


def test_a_login_without_a_prior_session_creates_one_row_at_the_password(client, frozen, fx_user, fx_totp):
    client.get("/fx/login/")
    with CaptureQueriesContext(connection) as queries:
        log_in(client, "fx", "taro01")
    assert session_statements(queries) == ["INSERT"]
    assert submit_code(client, "fx", totp_code(fx_totp.authenticator))["Location"] == "/home/"
    assert Session.objects.count() == 1


def test_a_new_key_that_collides_is_drawn_again_and_the_other_session_is_untouched(monkeypatch):
    taken = SessionStore()
    taken["owner"] = "someone else"
    taken.create()
    draws = iter([taken.session_key, "k" * 32])
    monkeypatch.setattr(SessionStore, "_get_new_session_key", lambda self: next(draws))
    mine = SessionStore()
    mine["owner"] = "me"
    mine.create()
    assert mine.session_key == "k" * 32
    assert SessionStore(taken.session_key).load() == {"owner": "someone else"}


def test_a_session_deleted_meanwhile_is_not_written_back():
    store = SessionStore()
    store["step"] = 1
    store.create()
    Session.objects.filter(session_key=store.session_key).delete()  # logged out in another tab
    store["step"] = 2
    with pytest.raises(UpdateError):
        store.save()
    assert not Session.objects.exists()


def test_a_renamed_session_keeps_its_data_under_the_new_key_only():
    store = SessionStore()
    store["wizard"] = {"step": "token"}
    store.create()
    old = store.session_key
    store.cycle_key()
    store.save()
    assert list(Session.objects.values_list("session_key", flat=True)) == [store.session_key]
    assert store.session_key != old
    assert SessionStore(store.session_key).load() == {"wizard": {"step": "token"}}


def test_a_session_flushed_before_its_rename_was_saved_leaves_no_row():
    store = SessionStore()
    store["wizard"] = {"step": "token"}
    store.create()
    store.cycle_key()
    store.flush()  # e.g. a login that fails after rotating
    assert not Session.objects.exists()


def test_a_change_inside_saved_data_is_written_again():
    store = SessionStore()
    store["wizard"] = {"step": "auth"}
    store.create()
    store.save()
    store["wizard"]["step"] = "token"  # changed in place, as formtools' storage does
    store.save()
    assert SessionStore(store.session_key).load() == {"wizard": {"step": "token"}}


def test_an_expired_row_is_not_loaded_and_its_key_is_forgotten(frozen):
    store = SessionStore()
    store["who"] = "me"
    store.set_expiry(60)
    store.create()
    key = store.session_key
    assert SessionStore(key).load()["who"] == "me"
    frozen.shift(timedelta(seconds=61))
    late = SessionStore(key)
    assert late.load() == {}
    assert late.session_key is None  # the next save draws a new key rather than reviving the row


def test_an_unknown_key_loads_nothing():
    store = SessionStore("x" * 32)
    assert store.load() == {}
    assert store.session_key is None
