"""The help desk's lookup and the service manager's page in Chromium: unlock, reset, axe-core.

Pages are in English where wording is asserted (the Japanese catalogue changes often); in
Japanese only roles, ids and classes are checked.
"""

import re

import pytest
from django.conf import settings as django_settings
from playwright.sync_api import expect

from tests.browser.conftest import fail_on_blocking_violations
from tests.conftest import PASSWORD

pytestmark = pytest.mark.browser  # also added by conftest.py; explicit for `-m browser`

LANGUAGES = ["ja", "en"]
REASON_LABEL = "Reason (recorded in the audit trail)"
SEARCH_LABEL = "User ID, contract number, company name or kana, or serial"
HIRAGANA_PART = "じようよう"  # part of the kana ジヨウヨウシヨウジ(カ of tests/conftest.py's customer


@pytest.fixture
def people(transactional_db, fx_contract, fx_user):
    """A help-desk member, the FX service manager and a locked FX staff member, all with TOTP."""
    from auth_enforcement import flows
    from auth_enforcement.models import AuthEvent
    from jweboffice.contracts.models import User
    from jweboffice.contracts.roles import HELPDESK
    from tests.conftest import register_totp, staff_member

    desk = staff_member("desk01", HELPDESK)
    register_totp(desk)
    register_totp(fx_user)
    staff = User.objects.create_user(
        "hanako02", PASSWORD, contract=fx_contract, role=User.Role.STAFF, name="佐藤 花子", email="hanako@example.jp"
    )
    authenticator = register_totp(staff).authenticator
    for _ in range(django_settings.JWEB_LOCK_AFTER_FAILURES):
        authenticator.record_failure()
    assert authenticator.is_locked
    flows.record(AuthEvent.Kind.LOCKED, subject=staff, actor=staff, serial=authenticator.serial)
    return {"desk": desk, "manager": fx_user, "staff": staff}


@pytest.fixture
def in_language(page, live_server):
    """Choose the pages' language with the language cookie (Japanese comes from Accept-Language)."""

    def choose(lang):
        if lang != "ja":
            cookie = {"name": django_settings.LANGUAGE_COOKIE_NAME, "value": lang, "url": live_server.url}
            page.context.add_cookies([cookie])

    return choose


@pytest.fixture
def open_page(page, live_server, assert_css_loaded):
    """Go to a path and check it is in the expected language, with portal.css applied."""

    def go(path, lang):
        page.goto(f"{live_server.url}{path}")
        expect(page.locator("html")).to_have_attribute("lang", lang)
        assert_css_loaded()

    return go


@pytest.fixture
def bank_log_in(page, live_server, submit_login, submit_code, current_code):
    """Log bank staff in at /bank/login/ (password, then the computed code); end at /admin/."""

    def log_in_as(user):
        page.goto(f"{live_server.url}/bank/login/")
        submit_login(user.login_id, PASSWORD)
        submit_code(current_code(user))
        expect(page).to_have_url(f"{live_server.url}/admin/")

    return log_in_as


def definition(page, term):
    """The <dd> after the profile's <dt> with this exact text."""
    return page.locator(f'main dl.profile dt:text-is("{term}") + dd')


def form_with_button(page, name):
    return page.locator("main form").filter(has=page.get_by_role("button", name=name, exact=True))


def test_helpdesk_finds_unlocks_and_resets_a_locked_user(page, live_server, people, in_language, bank_log_in):
    from auth_enforcement.models import Registration

    staff = people["staff"]
    in_language("en")
    bank_log_in(people["desk"])
    page.goto(f"{live_server.url}/helpdesk/")

    # The lock waits in the queue, flagged as locked.
    queue_row = page.locator("main table.results tbody tr").filter(has_text=staff.login_id)
    expect(queue_row).to_have_count(1)
    expect(queue_row.locator(".status-locked")).to_have_text("locked")

    # Part of the company's kana, typed in hiragana, finds the user.
    page.get_by_role("searchbox", name=SEARCH_LABEL).fill(HIRAGANA_PART)
    page.get_by_role("button", name="Search", exact=True).click()
    expect(page).to_have_url(re.compile(r"/helpdesk/\?q="))
    results = page.get_by_role("table", name="Company name or kana contains the words")
    results.get_by_role("link", name=staff.login_id, exact=True).click()
    expect(page).to_have_url(f"{live_server.url}/helpdesk/users/{staff.pk}/")
    expect(page.get_by_role("heading", level=1)).to_contain_text(staff.login_id)
    expect(definition(page, "Lock")).to_contain_text("locked since")

    unlock = form_with_button(page, "Unlock the authenticator")
    unlock.get_by_label(REASON_LABEL).fill("Caller confirmed the wrong codes were their own")
    unlock.get_by_role("button", name="Unlock the authenticator").click()
    expect(page).to_have_url(f"{live_server.url}/helpdesk/users/{staff.pk}/")
    expect(page.locator("main ul.messages")).to_contain_text("The authenticator was unlocked.")
    expect(definition(page, "Lock")).to_have_text("not locked")
    expect(form_with_button(page, "Unlock the authenticator")).to_have_count(0)

    reset = form_with_button(page, "Reset the second factor")
    reset.get_by_label("Called back on the telephone number registered for the contract").check()
    reset.get_by_label(REASON_LABEL).fill("Phone lost on a business trip")
    reset.get_by_label("I confirmed the caller is this user", exact=False).check()
    reset.get_by_role("button", name="Reset the second factor").click()
    expect(page).to_have_url(f"{live_server.url}/helpdesk/users/{staff.pk}/")
    expect(page.locator("main ul.messages")).to_contain_text("The authenticator was revoked for 1 user(s)")
    expect(definition(page, "Second factor")).to_have_text("not registered")
    expect(form_with_button(page, "Reset the second factor")).to_have_count(0)
    assert Registration.objects.for_login(staff) is None

    # The unlock settled the lock: the queue is empty again.
    page.get_by_role("navigation", name="Bank staff tools").get_by_role("link", name="Help desk lookup").click()
    expect(page.locator("main").get_by_role("status")).to_have_text("Nothing is waiting.")


@pytest.mark.parametrize("lang", LANGUAGES)
def test_helpdesk_reset_without_reason_or_identity_check_shows_errors(
    page, live_server, people, in_language, bank_log_in, open_page, lang
):
    from auth_enforcement.models import Registration

    staff = people["staff"]
    in_language(lang)
    bank_log_in(people["desk"])
    open_page(f"/helpdesk/users/{staff.pk}/", lang)
    reset = page.locator("main form[action$='/reset/']")

    # The forms have novalidate: the server's errors, in the page's language, under each field.
    reset.locator('button[type="submit"]').click()
    expect(page).to_have_url(f"{live_server.url}/helpdesk/users/{staff.pk}/reset/")
    reset = page.locator("main form[action$='/reset/']")
    expect(reset.locator("#id_reset-reason_error")).to_be_visible()
    expect(reset.locator("fieldset .field-error")).to_be_visible()  # identity check, inside its fieldset
    expect(reset.locator(".field-error")).to_have_count(3)  # identity check, reason, confirmation
    # Each error is tied to its field for screen readers.
    expect(reset.locator("fieldset")).to_have_attribute("aria-describedby", "identity_check_error")
    expect(reset.locator("#id_reset-confirmed_error")).to_be_visible()
    if lang == "en":
        expect(reset.locator("#id_reset-reason_error")).to_have_text(
            "Enter the reason; it is recorded in the audit trail."
        )
        expect(reset.locator("fieldset .field-error")).to_have_text("Choose how the caller's identity was verified.")
    registration = Registration.objects.for_login(staff)
    assert registration is not None  # still registered
    expect(page.locator("main dl.profile .serial")).to_have_text(registration.authenticator.serial)
    fail_on_blocking_violations(page)


def test_service_manager_unlocks_and_resets_a_staff_member(page, live_server, people, in_language, log_in):
    from auth_enforcement.models import Registration

    manager, staff = people["manager"], people["staff"]
    in_language("en")
    page.goto(f"{live_server.url}/fx/login/")
    log_in(manager, PASSWORD)
    page.get_by_role("link", name="Manage your users' second factor").click()
    expect(page).to_have_url(f"{live_server.url}/manager/")

    # The manager's own row offers no action: only the bank resets a manager's factor.
    users = page.get_by_role("table", name="Users and their second factor")
    own_row = users.locator("tbody tr").filter(has=page.get_by_role("rowheader", name=manager.login_id, exact=True))
    expect(own_row).to_contain_text("Your own factor is reset by the bank")
    expect(own_row.get_by_role("link")).to_have_count(0)
    assert page.goto(f"{live_server.url}/manager/users/{manager.pk}/").status == 403  # nor the address, typed in
    page.go_back()

    manage_staff = f"Unlock or reset the second factor of {staff.name}"
    users.get_by_role("link", name=manage_staff).click()
    expect(page).to_have_url(f"{live_server.url}/manager/users/{staff.pk}/")
    unlock = form_with_button(page, "Unlock the authenticator")
    unlock.get_by_label(REASON_LABEL).fill("Staff member mistyped the codes")
    unlock.get_by_role("button", name="Unlock the authenticator").click()
    expect(page).to_have_url(f"{live_server.url}/manager/")
    expect(page.locator("main ul.messages")).to_contain_text(f"The authenticator of {staff.name} was unlocked.")
    staff_row = users.locator("tbody tr").filter(has=page.get_by_role("rowheader", name=staff.login_id, exact=True))
    expect(staff_row.locator(".status-locked")).to_have_count(0)

    users.get_by_role("link", name=manage_staff).click()
    expect(form_with_button(page, "Unlock the authenticator")).to_have_count(0)
    reset = form_with_button(page, "Reset the second factor")
    reset.get_by_label(REASON_LABEL).fill("Smartphone broken")
    reset.get_by_role("button", name="Reset the second factor").click()
    expect(page).to_have_url(f"{live_server.url}/manager/")
    expect(page.locator("main ul.messages")).to_contain_text(f"The second factor of {staff.name} was reset")
    expect(staff_row.locator(".status-none")).to_have_text("not registered")
    assert Registration.objects.for_login(staff) is None
    assert Registration.objects.for_login(manager) is not None


@pytest.mark.parametrize("lang", LANGUAGES)
def test_helpdesk_pages_are_accessible(page, people, in_language, bank_log_in, open_page, lang):
    staff = people["staff"]
    in_language(lang)
    bank_log_in(people["desk"])

    open_page("/helpdesk/", lang)  # the queue
    expect(page.locator("main table.results tbody tr")).to_have_count(1)
    fail_on_blocking_violations(page)

    # Results: the login ID (exact-match table), part of the kana (partial-match table), nothing.
    found = "table.results tbody tr"
    for query, shown, count in ((staff.login_id, found, 1), (HIRAGANA_PART, found, 2), ("zz-nobody", ".no-results", 1)):
        page.get_by_role("searchbox").fill(query)
        with page.expect_navigation():  # the queue also has one row: wait for the results
            page.locator("main form[role=search] button[type=submit]").click()
        expect(page.locator(f"main {shown}")).to_have_count(count)
        fail_on_blocking_violations(page)

    open_page(f"/helpdesk/users/{staff.pk}/", lang)  # a locked user: unlock, reset and note forms
    expect(page.locator("main form[action$='/unlock/']")).to_be_visible()
    fail_on_blocking_violations(page)


@pytest.mark.parametrize("lang", LANGUAGES)
def test_manager_pages_are_accessible(page, live_server, people, in_language, log_in, open_page, lang):
    in_language(lang)
    page.goto(f"{live_server.url}/fx/login/")
    log_in(people["manager"], PASSWORD)

    open_page("/manager/", lang)
    expect(page.locator("#manager-users tbody tr")).to_have_count(2)
    fail_on_blocking_violations(page)

    open_page(f"/manager/users/{people['staff'].pk}/", lang)
    expect(page.locator("main form")).to_have_count(2)  # unlock and reset
    fail_on_blocking_violations(page)

    # With the reason left out (the forms have novalidate): the error under the field.
    page.locator("main form[action$='/reset/'] button[type=submit]").click()
    expect(page.locator("#id_reset-reason_error")).to_be_visible()
    fail_on_blocking_violations(page)
