"""The service manager's page: their own contract's staff only, every action with a reason."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.core import mail
from django.db import connection
from django.test.utils import CaptureQueriesContext

from auth_enforcement.models import Authenticator, AuthEvent, Registration
from jweboffice.contracts.models import Contract, Customer, Edition, User
from tests.conftest import PASSWORD, HttpsClient, log_in, log_in_with_totp, register_totp, totp_code

pytestmark = pytest.mark.usefixtures("english")

REASON = "Lost the PC with the generator on 2 June"


def signed_in_as(user: User) -> HttpsClient:
    """A browser of its own, logged in with the password and the user's real one-time password."""
    browser = HttpsClient()
    response = log_in_with_totp(browser, user)
    assert response.status_code == 302, response.content.decode()[:2000]
    return browser


def make_user(contract: Contract, login_id: str, role: str = User.Role.STAFF, **fields) -> User:
    fields.setdefault("name", f"利用者 {login_id}")
    fields.setdefault("email", f"{login_id}@example.jp")
    return User.objects.create_user(login_id, PASSWORD, contract=contract, role=role, **fields)


def lock(registration: Registration, settings) -> Authenticator:
    """Lock a credential the way wrong codes do."""
    authenticator = registration.authenticator
    for _ in range(settings.JWEB_LOCK_AFTER_FAILURES):
        authenticator.record_failure()
    assert authenticator.is_locked
    return authenticator


@pytest.fixture
def manager(signed_in) -> HttpsClient:
    """The FX contract's service manager (taro01), logged in with the second factor."""
    return signed_in


@pytest.fixture
def staff(fx_contract) -> User:
    return make_user(fx_contract, "hanako02", name="佐藤 花子", email="hanako@example.jp")


@pytest.fixture
def staff_totp(staff) -> Registration:
    return register_totp(staff)


@pytest.fixture
def other_manager(fx_contract) -> User:
    user = make_user(fx_contract, "jiro03", role=User.Role.MANAGER)
    register_totp(user)
    return user


@pytest.fixture
def stranger(db) -> User:
    """A staff member of another customer's FX contract."""
    other = Customer.objects.create(name="水戸物産株式会社", kana="ミトブツサン(カ", cif_number="0099999")
    contract = Contract.objects.create(customer=other, edition=Edition.FX, contract_number="F-0099999-01")
    user = make_user(contract, "saburo04")
    register_totp(user)
    return user


def nothing_changed(user: User) -> bool:
    """The user's factor is still active and no reset or unlock was recorded or mailed."""
    return (
        Registration.objects.for_login(user) is not None
        and not AuthEvent.objects.filter(kind__in=[AuthEvent.Kind.RESET, AuthEvent.Kind.UNLOCKED]).exists()
        and not mail.outbox
    )


# -- who sees what ------------------------------------------------------------------------


def test_manager_sees_own_contract_users_and_their_status(manager, staff_totp, stranger):
    page = manager.get("/manager/").content.decode()
    for fact in ("hanako02", "佐藤 花子", "staff", "one-time password", "registered by the user", "not locked"):
        assert fact in page
    assert f'href="/manager/users/{staff_totp.user_id}/"' in page
    assert "saburo04" not in page


def test_manager_page_shows_a_lock_and_the_wrong_codes(manager, staff_totp, settings):
    lock(staff_totp, settings)
    page = manager.get("/manager/").content.decode()
    assert "locked" in page and f"{settings.JWEB_LOCK_AFTER_FAILURES} wrong codes in a row" in page


def test_managers_own_row_sends_them_to_the_help_desk(manager, settings):
    page = manager.get("/manager/").content.decode()
    assert f"Your own factor is reset by the bank: call the help desk ({settings.JWEB_HELPDESK_PHONE})" in page
    assert 'href="/manager/users/' not in page  # no action on their own row


def test_home_links_to_the_page_for_managers_only(manager, staff_totp):
    assert 'href="/manager/"' in manager.get("/home/").content.decode()
    assert 'href="/manager/"' not in signed_in_as(staff_totp.user).get("/home/").content.decode()


@pytest.mark.parametrize("method,suffix", [("get", ""), ("get", "users/{pk}/"), ("post", "users/{pk}/unlock/"),
                                           ("post", "users/{pk}/reset/")])  # fmt: skip
def test_staff_get_404_on_the_page_and_the_actions(staff_totp, fx_user, fx_totp, method, suffix):
    # A staff member must not learn the page exists, nor act on their manager's factor.
    browser = signed_in_as(staff_totp.user)
    path = "/manager/" + suffix.format(pk=fx_user.pk)
    assert getattr(browser, method)(path, {"unlock-reason": REASON, "reset-reason": REASON}).status_code == 404
    assert nothing_changed(fx_user)


@pytest.mark.parametrize("suffix", ["", "unlock/", "reset/"])
def test_another_contracts_user_is_not_found(manager, stranger, suffix):
    path = f"/manager/users/{stranger.pk}/{suffix}"
    response = manager.post(path, {"unlock-reason": REASON, "reset-reason": REASON}) if suffix else manager.get(path)
    assert response.status_code == 404
    assert nothing_changed(stranger)


def test_unknown_user_is_not_found(manager):
    assert manager.post("/manager/users/999999/reset/", {"reset-reason": REASON}).status_code == 404


# -- what a manager may not do ----------------------------------------------------------


@pytest.mark.parametrize("action", ["unlock", "reset"])
def test_manager_cannot_reset_or_unlock_their_own_factor(manager, fx_user, fx_totp, settings, action):
    # A stolen manager session must not swap the manager's own factor: only the bank does that.
    lock(fx_totp, settings)
    response = manager.post(f"/manager/users/{fx_user.pk}/{action}/", {f"{action}-reason": REASON})
    assert response.status_code == 403
    assert nothing_changed(fx_user)
    assert Authenticator.objects.get(pk=fx_totp.authenticator_id).is_locked


@pytest.mark.parametrize("action", ["unlock", "reset"])
def test_manager_cannot_act_on_another_manager_of_the_same_contract(manager, other_manager, action):
    response = manager.post(f"/manager/users/{other_manager.pk}/{action}/", {f"{action}-reason": REASON})
    assert response.status_code == 403
    assert nothing_changed(other_manager)


def test_credential_also_used_by_a_manager_is_reset_only_by_the_bank(manager, staff_totp, domestic_contract):
    # A reset revokes the credential in every edition: here it is also a domestic manager's.
    twin = make_user(domestic_contract, "hanako02", role=User.Role.MANAGER)
    Registration.objects.create(user=twin, authenticator=staff_totp.authenticator)
    assert 'id="reset-by-the-bank"' in manager.get(f"/manager/users/{staff_totp.user_id}/").content.decode()
    assert manager.post(f"/manager/users/{staff_totp.user_id}/reset/", {"reset-reason": REASON}).status_code == 403
    assert nothing_changed(staff_totp.user) and Registration.objects.for_login(twin) is not None


def test_password_only_manager_cannot_use_the_page_or_the_actions(client, mandate_later, fx_user, staff_totp):
    # Before the mandate a manager may still log in with the password alone.
    log_in(client, "fx", "taro01")
    assert client.get("/home/").status_code == 200
    for response in (
        client.get("/manager/"),
        client.get(f"/manager/users/{staff_totp.user_id}/"),
        client.post(f"/manager/users/{staff_totp.user_id}/reset/", {"reset-reason": REASON}),
        client.post(f"/manager/users/{staff_totp.user_id}/unlock/", {"unlock-reason": REASON}),
    ):
        assert response.status_code == 302 and response["Location"] == "/enroll/"
    assert nothing_changed(staff_totp.user)


@pytest.mark.parametrize("action", ["unlock", "reset"])
def test_actions_refuse_get(manager, staff_totp, action):
    assert manager.get(f"/manager/users/{staff_totp.user_id}/{action}/").status_code == 405


@pytest.mark.parametrize("reason", ["", "ok", "   \n  "])
@pytest.mark.parametrize("action", ["unlock", "reset"])
def test_a_reason_is_required_and_nothing_changes_without_one(manager, staff_totp, settings, action, reason):
    lock(staff_totp, settings)
    response = manager.post(f"/manager/users/{staff_totp.user_id}/{action}/", {f"{action}-reason": reason})
    assert response.status_code == 400
    page = response.content.decode()
    assert "Enter the reason" in page or "at least 5 characters" in page
    assert nothing_changed(staff_totp.user)
    assert Authenticator.objects.get(pk=staff_totp.authenticator_id).is_locked


# -- reset ----------------------------------------------------------------------------------


def reset(manager: HttpsClient, user: User):
    return manager.post(f"/manager/users/{user.pk}/reset/", {"reset-reason": REASON})


def test_reset_revokes_the_staff_members_factor(manager, staff_totp):
    assert reset(manager, staff_totp.user)["Location"] == "/manager/"
    assert Registration.objects.for_login(staff_totp.user) is None
    assert Authenticator.objects.get(pk=staff_totp.authenticator_id).status == Authenticator.Status.REVOKED


def test_reset_ends_the_staff_members_sessions(manager, staff_totp):
    staff_browser = signed_in_as(staff_totp.user)
    assert staff_browser.get("/home/").status_code == 200
    reset(manager, staff_totp.user)
    assert staff_browser.get("/home/")["Location"] == "/?next=/home/"
    assert manager.get("/manager/").status_code == 200  # the manager's own session carries on


def test_reset_staff_members_old_generator_opens_nothing(frozen, manager, staff_totp):
    reset(manager, staff_totp.user)
    frozen.shift(timedelta(seconds=30))  # a fresh code, so a refusal is not the replay rule
    fresh = totp_code(staff_totp.authenticator)
    assert not Registration.objects.get(pk=staff_totp.pk).verify_token(fresh)
    staff_browser = HttpsClient()
    log_in(staff_browser, "fx", "hanako02")
    assert staff_browser.get("/home/")["Location"] == "/enroll/"  # password alone: register anew


def test_reset_is_audited_with_the_manager_the_reason_and_the_way(manager, fx_user, staff_totp):
    reset(manager, staff_totp.user)
    event = AuthEvent.objects.get(kind=AuthEvent.Kind.RESET)
    assert event.actor == fx_user and event.subject == staff_totp.user
    assert event.details["reason"] == REASON and event.details["via"] == "service_manager"


def test_reset_is_mailed_to_the_staff_member_without_code_or_secret(manager, staff_totp):
    reset(manager, staff_totp.user)
    (message,) = mail.outbox
    assert message.to == ["hanako@example.jp"]
    assert staff_totp.authenticator.totp_secret not in message.body
    assert not re.search(r"(?<!\d)\d{6}(?!\d)", message.body)  # no one-time password


def test_reset_without_a_factor_changes_nothing_and_says_so(manager, staff):
    response = manager.post(f"/manager/users/{staff.pk}/reset/", {"reset-reason": REASON}, follow=True)
    assert "has no second factor registered" in response.content.decode()
    assert not AuthEvent.objects.filter(kind=AuthEvent.Kind.RESET).exists() and not mail.outbox


# -- unlock ---------------------------------------------------------------------------------


def unlock(manager: HttpsClient, user: User):
    return manager.post(f"/manager/users/{user.pk}/unlock/", {"unlock-reason": REASON})


def test_unlock_clears_the_lock_and_the_count(manager, staff_totp, settings):
    lock(staff_totp, settings)
    assert unlock(manager, staff_totp.user)["Location"] == "/manager/"
    authenticator = Authenticator.objects.get(pk=staff_totp.authenticator_id)
    assert not authenticator.is_locked and authenticator.throttling_failure_count == 0
    assert Registration.objects.for_login(staff_totp.user) is not None  # unlocked, not reset


def test_unlock_is_audited_and_mailed(manager, fx_user, staff_totp, settings):
    lock(staff_totp, settings)
    unlock(manager, staff_totp.user)
    event = AuthEvent.objects.get(kind=AuthEvent.Kind.UNLOCKED)
    assert event.actor == fx_user and event.subject == staff_totp.user
    assert event.details["reason"] == REASON and event.details["via"] == "service_manager"
    assert [message.to for message in mail.outbox] == [["hanako@example.jp"]]


def test_unlock_of_an_unlocked_factor_changes_nothing(manager, staff_totp):
    response = unlock(manager, staff_totp.user)
    assert response["Location"] == "/manager/"
    assert nothing_changed(staff_totp.user)


# -- cost and languages ---------------------------------------------------------------------


def page_queries(manager: HttpsClient) -> int:
    with CaptureQueriesContext(connection) as queries:
        assert manager.get("/manager/").status_code == 200
    return len(queries)


def test_page_costs_the_same_queries_for_3_and_30_staff(manager, fx_contract, settings):
    def add_staff(start: int, stop: int) -> None:
        for number in range(start, stop):
            # No password: hashing thirty with Argon2 would only slow the test.
            user = User.objects.create_user(f"user{number:03d}", None, contract=fx_contract, role="staff", name="x")
            if number % 2:
                lock(register_totp(user), settings)

    add_staff(0, 3)
    manager.get("/manager/")  # the first visit after login may write the session once
    few = page_queries(manager)
    add_staff(3, 30)
    assert page_queries(manager) == few


@pytest.mark.parametrize("language,heading", [("en", "Manage your users"), ("ja", '<html lang="ja">')])
def test_pages_render_in_english_and_japanese(manager, staff_totp, settings, language, heading):
    settings.LANGUAGE_CODE = language
    for path in ("/manager/", f"/manager/users/{staff_totp.user_id}/"):
        response = manager.get(path)
        assert response.status_code == 200 and heading in response.content.decode()
