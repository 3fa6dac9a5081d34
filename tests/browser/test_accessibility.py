"""axe-core on the pages a customer sees before and right after logging in, in both languages."""

import pytest
from django.conf import settings as django_settings
from playwright.sync_api import expect

from tests.browser.conftest import FX_LOGIN_ID, FX_PASSWORD, fail_on_blocking_violations

LANGUAGES = ["ja", "en"]


@pytest.fixture
def open_in(page, live_server, assert_css_loaded):
    """Open a path in the given language and check the page is in it, styled."""

    def open_page(path, lang):
        if lang != "ja":  # Japanese comes from the browser's Accept-Language.
            cookie = {"name": django_settings.LANGUAGE_COOKIE_NAME, "value": lang, "url": live_server.url}
            page.context.add_cookies([cookie])
        page.goto(f"{live_server.url}{path}")
        expect(page.locator("html")).to_have_attribute("lang", lang)
        assert_css_loaded()

    return open_page


@pytest.fixture
def assert_accessible(page):
    """Run axe-core on the page as it is now; fail on any serious or critical violation."""

    def check():
        fail_on_blocking_violations(page)

    return check


@pytest.mark.parametrize("lang", LANGUAGES)
def test_entrance_page(open_in, assert_accessible, lang):
    open_in("/", lang)
    assert_accessible()


@pytest.mark.parametrize("lang", LANGUAGES)
def test_fx_login_page(open_in, assert_accessible, lang):
    open_in("/fx/login/", lang)
    assert_accessible()


@pytest.mark.parametrize("lang", LANGUAGES)
def test_fx_login_page_with_wrong_password(page, open_in, submit_login, assert_accessible, browser_fx_user, lang):
    open_in("/fx/login/", lang)
    submit_login(FX_LOGIN_ID, "wrong-password-123")
    expect(page.locator("#login-errors")).to_be_visible()  # the form's own error, role="alert"
    expect(page.locator("html")).to_have_attribute("lang", lang)
    assert_accessible()


@pytest.mark.parametrize("lang", LANGUAGES)
def test_fx_login_page_with_empty_fields(page, open_in, submit_login, assert_accessible, lang):
    open_in("/fx/login/", lang)
    submit_login("", "")
    expect(page.locator(".field-error")).to_have_count(2)  # one error under each field
    expect(page.locator("html")).to_have_attribute("lang", lang)
    assert_accessible()


@pytest.mark.parametrize("lang", LANGUAGES)
def test_fx_login_one_time_password_step(page, open_in, submit_login, assert_accessible, browser_fx_user, lang):
    open_in("/fx/login/", lang)
    submit_login(FX_LOGIN_ID, FX_PASSWORD)
    expect(page.locator('input[name="token-otp_token"]')).to_be_visible()
    expect(page.locator("html")).to_have_attribute("lang", lang)
    assert_accessible()


@pytest.mark.parametrize("lang", LANGUAGES)
def test_fx_login_one_time_password_step_with_error(
    page, open_in, submit_login, submit_code, wrong_code, assert_accessible, browser_fx_user, lang
):
    open_in("/fx/login/", lang)
    submit_login(FX_LOGIN_ID, FX_PASSWORD)
    submit_code(wrong_code(browser_fx_user))
    expect(page.locator('input[name="token-otp_token"]')).to_be_visible()
    expect(page.locator("#login-errors, .field-error")).not_to_have_count(0)
    assert_accessible()


@pytest.mark.parametrize("lang", LANGUAGES)
def test_home_page(page, open_in, log_in, assert_accessible, browser_fx_user, lang):
    open_in("/fx/login/", lang)
    log_in(browser_fx_user, FX_PASSWORD)
    expect(page.locator("html")).to_have_attribute("lang", lang)
    expect(page.locator("main dl.profile")).to_be_visible()
    assert_accessible()


@pytest.mark.parametrize("lang", LANGUAGES)
def test_home_page_with_registration_reminder(
    page, live_server, open_in, submit_login, assert_accessible, browser_fx_user_without_factor, mandate_later, lang
):
    """Before the mandate, a user without a second factor gets in and is asked to register one."""
    open_in("/fx/login/", lang)
    submit_login(FX_LOGIN_ID, FX_PASSWORD)
    expect(page).to_have_url(f"{live_server.url}/home/")
    expect(page.locator('main a[href="/enroll/"]')).to_be_visible()
    expect(page.locator("html")).to_have_attribute("lang", lang)
    assert_accessible()
