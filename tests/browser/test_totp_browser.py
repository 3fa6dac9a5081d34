"""The TOTP mandate in the browser: sent to registration, enroll from the page, log in with it.

Texts are looked up through Django's own translations in Japanese (the browser's language),
so the tests follow the wording of the forms and templates instead of copying it.
"""

from datetime import datetime, timedelta

import pyotp
import pytest
from django.utils import timezone, translation
from playwright.sync_api import expect

from tests.browser.conftest import FX_PASSWORD

LANG = "ja"  # the browser context's Accept-Language (tests/browser/conftest.py)


def ja(text) -> str:
    """Return a message (or lazy label) as the Japanese page shows it."""
    with translation.override(LANG):
        return str(translation.gettext(text) if isinstance(text, str) else text)


@pytest.fixture
def fx_mandate_in_force(transactional_db):
    """The FX mandate took effect a minute ago (whatever JWEB_MANDATE_FX says)."""
    from auth_enforcement.editions import Edition
    from auth_enforcement.models import MandatePolicy

    MandatePolicy.objects.update_or_create(
        edition=Edition.FX, defaults={"effective_at": timezone.now() - timedelta(minutes=1)}
    )


@pytest.fixture
def log_out(page, live_server):
    """Log out with the header's button and check the browser is back at the FX entrance."""

    def click():
        page.locator("header.site-header").get_by_role("button", name=ja("Log out"), exact=True).click()
        expect(page).to_have_url(f"{live_server.url}/fx/login/")

    return click


def test_unregistered_user_is_sent_to_registration_after_the_mandate(
    page, live_server, fx_mandate_in_force, browser_fx_user_without_factor, submit_login
):
    page.goto(f"{live_server.url}/fx/login/")
    submit_login(browser_fx_user_without_factor.login_id, FX_PASSWORD)

    # The password alone is accepted, but the only place left is the registration page.
    expect(page).to_have_url(f"{live_server.url}/enroll/")
    expect(page.locator('input[name="token-otp_token"]')).to_have_count(0)
    expect(page.get_by_role("heading", level=1)).to_have_text(ja("Second factor registration"))
    expect(page.get_by_role("link", name=ja("Register a one-time password generator"))).to_have_attribute(
        "href", "/enroll/totp/"
    )
    # After the mandate there is no "register later".
    expect(page.get_by_role("button", name=ja("Register later"))).to_have_count(0)

    # Typing the home page's address does not get around it.
    page.goto(f"{live_server.url}/home/")
    expect(page).to_have_url(f"{live_server.url}/enroll/")
    expect(page.locator("dl.profile")).to_have_count(0)  # no services, no contract details


def test_enroll_totp_from_the_page_and_log_in_with_it(
    page, live_server, fx_mandate_in_force, browser_fx_user_without_factor, submit_login, submit_code, log_out
):
    from auth_enforcement.forms import TOTPEnrollmentForm, TOTPTokenForm
    from auth_enforcement.models import Registration

    user = browser_fx_user_without_factor
    page.goto(f"{live_server.url}/fx/login/")
    submit_login(user.login_id, FX_PASSWORD)
    expect(page).to_have_url(f"{live_server.url}/enroll/")

    page.get_by_role("link", name=ja("Register a one-time password generator")).click()
    expect(page).to_have_url(f"{live_server.url}/enroll/totp/")

    # The QR code is an image with a text alternative; the key is shown as text too.
    qr = page.locator("main .enroll-key img")
    expect(qr).to_be_visible()
    assert qr.get_attribute("src").startswith("data:image/svg+xml")
    alt = qr.get_attribute("alt")
    assert alt and alt.strip(), f"the QR code has no text alternative: alt={alt!r}"
    key = "".join(page.locator("#totp-key").inner_text().split())
    assert len(key) == 32, key  # 160 bits in base32

    # The generator the customer would set up with this key (6 digits, 30 s, SHA1).
    totp = pyotp.TOTP(key)
    t = totp.timecode(datetime.now())
    first_code, second_code = totp.generate_otp(t - 1), totp.generate_otp(t)
    fields = TOTPEnrollmentForm.base_fields
    page.get_by_label(ja(fields["first_code"].label), exact=True).fill(first_code)
    page.get_by_label(ja(fields["second_code"].label), exact=True).fill(second_code)
    page.locator("main form").get_by_role("button", name=ja("Register"), exact=True).click()

    expect(page).to_have_url(f"{live_server.url}/home/")
    expect(page.get_by_role("heading", level=1)).to_have_text("各種サービス")
    registration = Registration.objects.for_login(user)
    assert registration is not None
    assert registration.authenticator.last_step == t  # the enrollment used step t

    # Log in again with the same key. Step t is spent, but the server accepts one step of
    # drift ahead, so the next step's code works without waiting 30 seconds.
    log_out()
    submit_login(user.login_id, FX_PASSWORD)
    login_code = totp.generate_otp(t + 1)
    submit_code(login_code)
    expect(page).to_have_url(f"{live_server.url}/home/")
    expect(page.get_by_role("heading", level=1)).to_have_text("各種サービス")
    registration.authenticator.refresh_from_db()
    assert registration.authenticator.last_step == t + 1

    # The same code in a fresh login attempt is a replay: refused, still at the login page.
    log_out()
    submit_login(user.login_id, FX_PASSWORD)
    submit_code(login_code)
    # Still within the ±1 step window, so the refusal is for the replay, not for the clock.
    assert totp.timecode(datetime.now()) <= t + 2, "took over 30 s: the replay check proves nothing"
    errors = page.locator("#login-errors")
    expect(errors).to_be_visible()
    expect(errors).to_have_attribute("role", "alert")
    expect(errors).to_contain_text(ja(TOTPTokenForm.otp_error_messages["invalid_token"]))
    expect(page).to_have_url(f"{live_server.url}/fx/login/")
    expect(page.locator('input[name="token-otp_token"]')).to_be_visible()

    # And the session is not signed in: the home page sends the browser to the entrance.
    page.goto(f"{live_server.url}/home/")
    expect(page).to_have_url(f"{live_server.url}/?next=/home/")
