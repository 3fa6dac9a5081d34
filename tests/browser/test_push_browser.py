"""One-push authentication in the browser, with the reference phone client as the smartphone.

The phone (auth_enforcement/phone_client.py) shares no code with the server and speaks the
privacyIDEA PUSH protocol over HTTP to the live server's device API, from the test's own
thread: the live server answers from its thread. The browser is never clicked to move on
after an approval: the page's script (static/js/push-wait.js) must notice it by itself.

Texts are looked up through Django's own translations in Japanese (the browser's language).
"""

import re
from datetime import timedelta

import pytest
from django.conf import settings as django_settings
from django.utils import timezone, translation
from playwright.sync_api import expect

from auth_enforcement.phone_client import Challenge, Phone, new_key
from tests.browser.conftest import FX_PASSWORD, fail_on_blocking_violations

LANG = "ja"  # the browser context's Accept-Language (tests/browser/conftest.py)
BY_ITSELF = 10_000  # ms for the page's own polling (once a second) to notice the phone's answer
NUMBER = re.compile(r"^\d{2}$")


def page_text(text, lang=LANG) -> str:
    """Return a message as the page shows it: in Japanese, unless another language is chosen."""
    with translation.override(lang):
        return translation.gettext(text)


@pytest.fixture(scope="module")
def app_key():
    """The phone app's RSA-4096 key, made once for the module (each takes about a second)."""
    return new_key()


@pytest.fixture
def phone(tmp_path):
    """A smartphone with the reference client installed and nothing enrolled yet.

    Its HTTP session is closed after the test: a kept-alive connection would hold a live
    server thread open until after the server stops, which then fails closing the database.
    """
    phone = Phone(tmp_path / "phone.json")
    yield phone
    phone.session.close()


@pytest.fixture
def fx_mandate_in_force(transactional_db):
    """The FX mandate took effect a minute ago: after the password, a user without a factor must enroll."""
    from auth_enforcement.editions import Edition
    from auth_enforcement.models import MandatePolicy

    MandatePolicy.objects.update_or_create(
        edition=Edition.FX, defaults={"effective_at": timezone.now() - timedelta(minutes=1)}
    )


@pytest.fixture
def log_out(page, live_server):
    """Log out with the header's button and check the browser is back at the FX entrance."""

    def click(lang=LANG):
        page.locator("header.site-header").get_by_role("button", name=page_text("Log out", lang), exact=True).click()
        expect(page).to_have_url(f"{live_server.url}/fx/login/")

    return click


@pytest.fixture
def shown_number(page):
    """Return the 2-digit number the page shows now (it must show one)."""

    def read() -> str:
        number = page.locator("#push-number")
        expect(number).to_have_text(NUMBER, timeout=BY_ITSELF)
        return number.inner_text().strip()

    return read


def only_request(phone: Phone, number: str) -> Challenge:
    """Poll as the app does; return the one open request, after checking it offers `number`."""
    polled = phone.poll()
    assert polled.rejected == [], [rejected.reason for rejected in polled.rejected]
    assert len(polled.challenges) == 1, polled.challenges
    challenge = polled.challenges[0]
    assert challenge.title == "JWEBOFFICE"
    assert len(challenge.options) == 3, challenge.options  # the page's number and two others
    assert number in challenge.options, f"the page shows {number}, the phone offers {challenge.options}"
    return challenge


@pytest.fixture
def enroll_push(page, live_server, phone, app_key, shown_number, submit_login):
    """From the FX entrance, log in with the password and register the phone; end at home.

    `on_qr_page` and `on_number_page`, if given, are called (without arguments) while the
    enrollment page shows the QR code, then the number. Returns the request approved.
    """

    def enroll(user, on_qr_page=None, on_number_page=None, lang=LANG) -> Challenge:
        page.goto(f"{live_server.url}/fx/login/")
        submit_login(user.login_id, FX_PASSWORD)
        expect(page).to_have_url(f"{live_server.url}/enroll/")

        title = page_text("Register one-push authentication", lang)
        page.get_by_role("link", name=title, exact=True).click()
        expect(page).to_have_url(f"{live_server.url}/enroll/push/")
        expect(page.get_by_role("heading", level=1)).to_have_text(title)
        qr = page.locator("main .enroll-key img")
        expect(qr).to_be_visible()
        assert qr.get_attribute("src").startswith("data:image/svg+xml")
        expect(page.locator("#push-number")).to_have_count(0)

        # The QR code's text is in a closed <details>: open it, as a tester with the reference client would.
        uri = page.locator("#push-qr-uri")
        expect(uri).to_be_hidden()
        page.locator("main details > summary").click()
        expect(uri).to_be_visible()
        qr_uri = uri.inner_text().strip()
        assert qr_uri.startswith("otpauth://pipush/"), qr_uri
        if on_qr_page:
            on_qr_page()

        # The phone scans it and rolls out; the page notices by itself and reloads with a number.
        result = phone.enroll(qr_uri, key=app_key)
        assert result == {"status": True, "value": True}
        assert phone.url == f"{live_server.url}/device/push/"
        number = shown_number()
        expect(page).to_have_url(f"{live_server.url}/enroll/push/")
        expect(page.locator("main .enroll-key img")).to_have_count(0)  # the QR code is gone
        if on_number_page:
            on_number_page()

        # The first request confirms the registration: the phone offers the page's number; tap it.
        challenge = only_request(phone, number)
        assert user.login_id in challenge.question, challenge.question
        assert phone.accept(challenge, number) == {"status": True, "value": True}
        expect(page).to_have_url(f"{live_server.url}/home/", timeout=BY_ITSELF)
        return challenge

    return enroll


@pytest.fixture
def push_registered_user(browser_fx_user_without_factor, fx_mandate_in_force, enroll_push, log_out):
    """The FX user with the phone registered through the pages, logged out again."""
    enroll_push(browser_fx_user_without_factor)
    log_out()
    return browser_fx_user_without_factor


def test_enroll_push_with_the_reference_client_and_log_in_with_one_tap(
    page,
    live_server,
    fx_mandate_in_force,
    browser_fx_user_without_factor,
    phone,
    enroll_push,
    log_out,
    submit_login,
    shown_number,
):
    from auth_enforcement.models import Authenticator, Registration

    user = browser_fx_user_without_factor
    enrollment_request = enroll_push(user)

    expect(page.get_by_role("heading", level=1)).to_have_text("各種サービス")
    registration = Registration.objects.for_login(user)
    assert registration is not None
    assert registration.authenticator.kind == Authenticator.Kind.PUSH
    assert registration.authenticator.status == Authenticator.Status.ACTIVE
    assert registration.authenticator.serial == phone.serial

    # Log in again: after the password the page shows a new number and waits for the phone.
    log_out()
    submit_login(user.login_id, FX_PASSWORD)
    number = shown_number()
    expect(page).to_have_url(f"{live_server.url}/fx/login/")
    expect(page.locator("#push-status")).to_have_text(page_text("Waiting for your approval…"))
    expect(page.locator('input[name="token-otp_token"]')).to_have_attribute("type", "hidden")  # nothing to type
    challenge = only_request(phone, number)
    assert challenge.nonce != enrollment_request.nonce

    # A wrong number is refused and the browser stays where it is: the login is not approved.
    wrong = next(option for option in challenge.options if option != number)
    assert phone.accept(challenge, wrong) == {"status": True, "value": False}
    page.wait_for_timeout(2500)  # two and a half of the page's polls
    expect(page).to_have_url(f"{live_server.url}/fx/login/")
    expect(page.locator("#push-status")).to_have_text(page_text("Waiting for your approval…"))
    expect(page.locator("#push-denied")).to_be_hidden()
    expect(page.locator("#push-expired")).to_be_hidden()

    # The right number: the browser moves on to the home page by itself, without a click.
    assert phone.accept(only_request(phone, number), number) == {"status": True, "value": True}
    expect(page).to_have_url(f"{live_server.url}/home/", timeout=BY_ITSELF)
    expect(page.get_by_role("heading", level=1)).to_have_text("各種サービス")
    assert phone.poll().challenges == []  # nothing left open on the phone


def test_declined_push_is_shown_with_a_way_to_send_again(
    page, live_server, push_registered_user, phone, submit_login, shown_number
):
    user = push_registered_user
    submit_login(user.login_id, FX_PASSWORD)
    first_number = shown_number()
    declined = only_request(phone, first_number)

    # "Cancelled" on the phone (not "not me", which would pause the pushes).
    assert declined.can_give_decline_reason
    assert phone.decline(declined, "cancelled") == {"status": True, "value": True}
    denied = page.locator("#push-denied")
    expect(denied).to_be_visible(timeout=BY_ITSELF)
    expect(denied).to_have_text(
        page_text("The request was declined on your smartphone. If it was not you, please call the help desk.")
    )
    expect(page.locator("#push-status")).to_be_hidden()
    expect(page.locator("#login-form button[type=submit]")).to_be_hidden()  # no "I have approved it"
    expect(page).to_have_url(f"{live_server.url}/fx/login/")  # not logged in

    # Send it again: a new request, with a number on the page and on the phone. (The third push
    # in 5 minutes, with the enrollment's: the default limit, JWEB_PUSH_MAX_PER_WINDOW = 3.)
    resend = page.locator("#push-resend")
    expect(resend).to_be_visible()
    expect(resend).to_have_text(page_text("Send the request to my smartphone again"))
    resend.click()
    second_number = shown_number()
    expect(page.locator("#push-denied")).to_be_hidden()
    expect(page.locator("#push-status")).to_have_text(page_text("Waiting for your approval…"))
    again = only_request(phone, second_number)
    assert again.nonce != declined.nonce  # a new request, not the declined one (the number may repeat)

    # And this one logs the user in, by itself.
    assert phone.accept(again, second_number) == {"status": True, "value": True}
    expect(page).to_have_url(f"{live_server.url}/home/", timeout=BY_ITSELF)


# -- accessibility ----------------------------------------------------------------------


@pytest.fixture
def assert_accessible(page, assert_css_loaded):
    """Run axe-core on the page as it is now; fail on any serious or critical violation."""

    def check(lang):
        expect(page.locator("html")).to_have_attribute("lang", lang)
        assert_css_loaded()
        fail_on_blocking_violations(page)

    return check


@pytest.mark.parametrize("lang", ["ja", "en"])
def test_push_pages_are_accessible(
    page,
    live_server,
    fx_mandate_in_force,
    browser_fx_user_without_factor,
    phone,
    enroll_push,
    log_out,
    submit_login,
    shown_number,
    assert_accessible,
    lang,
):
    """axe on the enrollment page (QR code, then number) and the login's waiting page (waiting, declined)."""
    if lang != "ja":  # Japanese comes from the browser's Accept-Language.
        cookie = {"name": django_settings.LANGUAGE_COOKIE_NAME, "value": lang, "url": live_server.url}
        page.context.add_cookies([cookie])
    user = browser_fx_user_without_factor

    def check():
        assert_accessible(lang)

    enroll_push(user, on_qr_page=check, on_number_page=check, lang=lang)

    log_out(lang)
    submit_login(user.login_id, FX_PASSWORD)
    number = shown_number()
    assert_accessible(lang)

    phone.decline(only_request(phone, number), "cancelled")
    expect(page.locator("#push-denied")).to_be_visible(timeout=BY_ITSELF)
    assert_accessible(lang)
