from datetime import datetime, timedelta
from io import StringIO
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.core.management import CommandError, call_command
from django.urls import URLPattern, URLResolver, get_resolver

from auth_enforcement.models import AuthEvent, MandatePolicy, mandate_in_force
from jweboffice.contracts.models import User
from tests.conftest import PASSWORD, log_in, log_in_with_totp, register_totp

JST = ZoneInfo("Asia/Tokyo")
SECOND = timedelta(seconds=1)
BOUNDARIES = {"fx": datetime(2019, 3, 1, tzinfo=JST), "domestic": datetime(2017, 11, 1, tzinfo=JST)}


pytestmark = pytest.mark.usefixtures("english")


@pytest.mark.parametrize("edition", ["fx", "domestic"])
def test_mandate_starts_at_jst_midnight(client, edition, fx_user, domestic_user):
    with time_machine.travel(BOUNDARIES[edition] - SECOND, tick=False):
        log_in(client, edition, "taro01")
        assert client.post("/enroll/postpone/")["Location"] == "/home/"  # "later" is still allowed
        assert client.get("/home/").status_code == 200
    with time_machine.travel(BOUNDARIES[edition], tick=False):
        response = client.get("/home/")
        assert response.status_code == 302
        assert response["Location"] == "/enroll/"


def test_mandate_of_one_edition_does_not_touch_the_other(client, domestic_user):
    # 2018: the domestic mandate is in force, the FX one is not yet.
    with time_machine.travel(datetime(2018, 6, 1, tzinfo=JST), tick=False):
        assert mandate_in_force("domestic") and not mandate_in_force("fx")


@pytest.mark.parametrize("role,can_approve", [("manager", True), ("manager", False), ("staff", True), ("staff", False)])
def test_nobody_is_exempt(client, fx_contract, role, can_approve):
    User.objects.create_user("anyone1", PASSWORD, contract=fx_contract, role=role, can_approve=can_approve, name="x")
    log_in(client, "fx", "anyone1")
    assert client.get("/home/")["Location"] == "/enroll/"


def test_before_the_mandate_the_home_page_shows_a_banner_with_the_date(client, mandate_later, fx_user):
    log_in(client, "fx", "taro01")
    page = client.get("/home/").content.decode()
    date = f"{MandatePolicy.objects.get(edition='fx').effective_at.astimezone(JST):%Y-%m-%d}"
    assert date in page
    assert 'href="/enroll/"' in page


def test_postponing_hides_the_banner_for_the_session(client, mandate_later, fx_user):
    log_in(client, "fx", "taro01")
    assert client.post("/enroll/postpone/")["Location"] == "/home/"
    assert "mandate-banner" not in client.get("/home/").content.decode()
    assert AuthEvent.objects.filter(kind=AuthEvent.Kind.POSTPONED, subject=fx_user).exists()


def test_in_the_warning_period_registration_comes_first_until_postponed(client, mandate_later, fx_user):
    MandatePolicy.objects.filter(edition="fx").update(warning_days=31)
    log_in(client, "fx", "taro01")
    assert client.get("/home/")["Location"] == "/enroll/"
    page = client.get("/enroll/").content.decode()
    assert "Register later" in page
    client.post("/enroll/postpone/")
    assert client.get("/home/").status_code == 200


def test_postponing_is_refused_after_the_mandate(client, fx_user):
    log_in(client, "fx", "taro01")
    response = client.post("/enroll/postpone/", follow=True)
    assert "can no longer be postponed" in response.content.decode()
    assert client.get("/home/")["Location"] == "/enroll/"


def test_bank_staff_need_the_second_factor_for_the_admin_from_day_one(client, mandate_later, bank_staff):
    log_in(client, "bank", "admin01")
    assert client.get("/admin/")["Location"] == "/enroll/"


def test_admin_refuses_a_password_only_session_even_without_the_middleware(client, settings, mandate_later, bank_staff):
    settings.MIDDLEWARE = [m for m in settings.MIDDLEWARE if not m.endswith("SecondFactorMiddleware")]
    log_in(client, "bank", "admin01")
    assert client.get("/admin/").status_code == 302


def all_paths(patterns=None, prefix="") -> list[str]:
    """Every URL of the portal, with sample values for its parameters."""
    samples = {
        "slug": "remittance",
        "int": "1",
        "path": "1",
        "str": "x",
        "uuid": "00000000-0000-0000-0000-000000000000",
    }
    paths = []
    for pattern in patterns if patterns is not None else get_resolver().url_patterns:
        route = str(pattern.pattern)
        if route.startswith("^"):  # regex routes (the admin's app index and its catch-all)
            route = route.strip("^$").replace(
                "(?P<app_label>auth|contracts|auth_enforcement|otp_static|otp_totp)", "contracts"
            )
            route = route.replace("\\Z", "").replace("(?P<url>.*)", "x")
        for converter, value in samples.items():
            while f"<{converter}:" in route:
                start = route.index(f"<{converter}:")
                route = route[:start] + value + route[route.index(">", start) + 1 :]
        if isinstance(pattern, URLResolver):
            paths += all_paths(pattern.url_patterns, prefix + route)
        elif isinstance(pattern, URLPattern):
            paths.append("/" + prefix + route)
    return sorted(set(paths))


OPEN_AFTER_MANDATE = {
    "/",
    "/notice/",
    "/fx/login/",
    "/domestic/login/",
    "/bank/login/",
    "/logout/",
    "/i18n/setlang/",
    "/enroll/",
    "/enroll/totp/",
    "/enroll/postpone/",
    "/enroll/push/",
    "/enroll/push/status/",
    "/enroll/start-of-use/",
    "/enroll/start-of-use/status/",
    "/login/push/status/",
    "/device/push/",  # the phone's API: every request is signed, nothing here is a session
    "/device/push/openapi.yaml",
}


def test_every_url_needs_the_second_factor_after_the_mandate(client, fx_user):
    log_in(client, "fx", "taro01")  # password only
    paths = all_paths()
    assert len(paths) > 50 and "/home/" in paths and "/admin/contracts/user/" in paths
    for path in paths:
        response = client.get(path)
        if path in OPEN_AFTER_MANDATE:
            continue
        assert response.status_code == 302 and response["Location"] == "/enroll/", path


def test_open_urls_are_exactly_those_expected(client, fx_user):
    log_in(client, "fx", "taro01")
    answered = {path for path in all_paths() if client.get(path).get("Location") != "/enroll/"}
    assert answered == OPEN_AFTER_MANDATE


def test_verified_request_costs_no_query_beyond_session_and_user(signed_in, django_assert_num_queries):
    signed_in.get("/home/")
    with django_assert_num_queries(2):  # the session row and the user row, as without the middleware
        assert signed_in.get("/home/").status_code == 200


def test_unverified_request_costs_at_most_one_more_query(client, fx_user, django_assert_num_queries):
    log_in(client, "fx", "taro01")
    client.get("/enroll/")
    with django_assert_num_queries(3):  # session, user, the edition's mandate
        assert client.get("/home/").status_code == 302


def test_mandate_command_shows_both_editions(db):
    out = StringIO()
    call_command("mandate", "show", stdout=out)
    assert "fx" in out.getvalue() and "2019-03-01 00:00" in out.getvalue()
    assert "domestic" in out.getvalue() and "2017-11-01 00:00" in out.getvalue()


def test_mandate_command_sets_an_instant_and_audits_it(db):
    call_command("mandate", "set", "fx", "2030-04-01T00:00+09:00", stdout=StringIO())
    assert MandatePolicy.objects.get(edition="fx").effective_at == datetime(2030, 4, 1, tzinfo=JST)
    event = AuthEvent.objects.get(kind=AuthEvent.Kind.MANDATE_CHANGED)
    assert event.edition == "fx"
    assert event.details["before"].startswith("2019-03-01") and event.details["after"].startswith("2030-04-01")


@pytest.mark.parametrize("args,message", [(["set", "us", "2030-01-01"], "edition"), (["set", "fx", "soon"], "date")])
def test_mandate_command_refuses_bad_input_and_changes_nothing(db, args, message):
    with pytest.raises(CommandError, match=message):
        call_command("mandate", *args, stdout=StringIO())
    assert not AuthEvent.objects.exists()


def test_bank_admin_edits_the_mandate_in_the_admin_and_it_is_audited(client, bank_staff):
    log_in_with_totp(client, bank_staff, register_totp(bank_staff))
    policy = MandatePolicy.objects.for_edition("fx")
    response = client.post(
        f"/admin/auth_enforcement/mandatepolicy/{policy.pk}/change/",
        {"edition": "fx", "effective_at_0": "2031-01-01", "effective_at_1": "00:00:00", "warning_days": "30"},
    )
    assert response.status_code == 302, response.content.decode()[:3000]
    policy.refresh_from_db()
    assert policy.effective_at == datetime(2031, 1, 1, tzinfo=JST)
    event = AuthEvent.objects.get(kind=AuthEvent.Kind.MANDATE_CHANGED)
    assert event.actor == bank_staff and event.details["after"].startswith("2031-01-01")
