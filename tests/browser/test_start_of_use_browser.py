"""FX start-of-use registration (利用開始登録) in the browser, with the domestic generator.

A customer has a domestic and an FX contract; `taro01` of the domestic edition has a TOTP
generator, `taro01` of the FX edition a password only, and the FX mandate is in force. The
FX user reuses the domestic generator from the enrollment page, then logs in with it.

Texts are looked up through Django's own translations in the page's language, so the tests
follow the wording of the forms and templates instead of copying it.
"""

from datetime import timedelta

import pytest
from django.conf import settings as django_settings
from django.utils import dateformat, timezone, translation
from playwright.sync_api import expect

from tests.browser.conftest import fail_on_blocking_violations

LOGIN_ID = "taro01"  # the same ID in both editions
PASSWORD = "Correct-Horse-Battery-42"
START_OF_USE = "/enroll/start-of-use/"
NOT_CONFIRMED = "The credential could not be confirmed. Check the user ID or serial and the codes."


def tr(text, lang="ja") -> str:
    """Return a message (or lazy label) as the page in `lang` shows it (Japanese: the browser's)."""
    with translation.override(lang):
        return str(translation.gettext(text) if isinstance(text, str) else text)


def shown_at(moment) -> str:
    """A time as the enrollment page shows it: Japan time, "Y-m-d H:i"."""
    return dateformat.format(timezone.localtime(moment), "Y-m-d H:i")


@pytest.fixture
def fx_mandate_in_force(transactional_db):
    """The FX mandate took effect a minute ago (whatever JWEB_MANDATE_FX says)."""
    from auth_enforcement.editions import Edition
    from auth_enforcement.models import MandatePolicy

    MandatePolicy.objects.update_or_create(
        edition=Edition.FX, defaults={"effective_at": timezone.now() - timedelta(minutes=1)}
    )


@pytest.fixture
def twins(transactional_db, fx_mandate_in_force):
    """One customer, both editions: domestic `taro01` with a generator, FX `taro01` with a password only.

    Saved where the live server sees them. Returns (domestic user, its registration, FX user).
    """
    from jweboffice.contracts.models import Contract, Customer, Edition, User
    from tests.conftest import register_totp

    customer = Customer.objects.create(
        name="ジェイウェブ商事株式会社", kana="ジェイウェブショウジ", cif_number="1234567"
    )
    domestic_contract = Contract.objects.create(
        customer=customer, edition=Edition.DOMESTIC, contract_number="D-1234567"
    )
    fx_contract = Contract.objects.create(customer=customer, edition=Edition.FX, contract_number="F-1234567")
    details = {"role": User.Role.MANAGER, "name": "山田 太郎", "email": "taro@example.jp"}
    domestic_user = User.objects.create_user(LOGIN_ID, PASSWORD, contract=domestic_contract, **details)
    fx_user = User.objects.create_user(LOGIN_ID, PASSWORD, contract=fx_contract, **details)
    return domestic_user, register_totp(domestic_user), fx_user


def wrong_codes(authenticator) -> tuple[str, str]:
    """Two well-formed codes the generator does not show anywhere near now."""
    from tests.conftest import totp_code

    near = {totp_code(authenticator, offset) for offset in range(-3, 4)}
    first, second = [code for code in ("000000", "111111", "222222", "333333", "444444") if code not in near][:2]
    return first, second


@pytest.fixture
def open_start_of_use(page, live_server, submit_login):
    """Log the FX user in with the password (to /enroll/) and open the start-of-use page."""

    def open_page(lang="ja"):
        if lang != "ja":  # Japanese comes from the browser's Accept-Language.
            cookie = {"name": django_settings.LANGUAGE_COOKIE_NAME, "value": lang, "url": live_server.url}
            page.context.add_cookies([cookie])
        page.goto(f"{live_server.url}/fx/login/")
        submit_login(LOGIN_ID, PASSWORD)
        expect(page).to_have_url(f"{live_server.url}/enroll/")
        page.get_by_role("link", name=tr("Start of use with my domestic credential", lang), exact=True).click()
        expect(page).to_have_url(f"{live_server.url}{START_OF_USE}")
        expect(page.locator("html")).to_have_attribute("lang", lang)

    return open_page


@pytest.fixture
def fill_start_of_use(page):
    """Choose the generator, type the domestic user ID and two codes, and submit."""
    from auth_enforcement.forms import StartOfUseForm

    fields = StartOfUseForm.base_fields

    def fill(identifier, first_code, second_code, lang="ja"):
        form = page.locator("main form")
        generator = form.get_by_role("radio", name=tr("One-time password generator", lang), exact=True)
        generator.check()
        expect(generator).to_be_checked()
        form.get_by_label(tr(fields["identifier"].label, lang), exact=True).fill(identifier)
        form.get_by_label(tr(fields["first_code"].label, lang), exact=True).fill(first_code)
        form.get_by_label(tr(fields["second_code"].label, lang), exact=True).fill(second_code)
        form.get_by_role("button", name=tr("Register the start of use", lang), exact=True).click()

    return fill


def test_fx_user_starts_using_the_domestic_generator(
    page, live_server, twins, submit_login, submit_code, fill_start_of_use
):
    from auth_enforcement.forms import StartOfUseForm, TOTPEnrollmentForm
    from auth_enforcement.models import Registration
    from tests.conftest import totp_code

    domestic_user, domestic_registration, fx_user = twins
    authenticator = domestic_registration.authenticator

    # Password only at the FX entrance: the mandate is in force, so enrollment is the only place.
    page.goto(f"{live_server.url}/fx/login/")
    submit_login(LOGIN_ID, PASSWORD)
    expect(page).to_have_url(f"{live_server.url}/enroll/")

    # The domestic registration is recognised, and reusing it is offered before the other methods.
    twin_status = page.locator("#twin-status")
    expect(twin_status).to_have_text(
        tr("JWEBOFFICE (domestic edition): registered since %(since)s. JWEBOFFICE FX edition: not started.")
        % {"since": shown_at(domestic_registration.confirmed_at)}
    )
    methods = page.locator("main ul.methods > li")
    expect(methods).to_have_count(3)
    expect(methods.first.locator("a")).to_have_attribute("href", START_OF_USE)
    expect(methods.first.get_by_role("heading")).to_have_text(tr("Use your domestic-edition token or app"))
    expect(methods.nth(1).locator("a")).to_have_attribute("href", "/enroll/totp/")

    page.get_by_role("link", name=tr("Start of use with my domestic credential"), exact=True).click()
    expect(page).to_have_url(f"{live_server.url}{START_OF_USE}")
    expect(page.get_by_role("heading", level=1)).to_have_text(tr("Start of use with your domestic-edition credential"))
    # The code fields are labelled as on /enroll/totp/.
    for name in ("first_code", "second_code"):
        assert str(StartOfUseForm.base_fields[name].label) == str(TOTPEnrollmentForm.base_fields[name].label)

    # The code shown a step ago, then the one shown now: two consecutive codes.
    step = authenticator.current_step()
    fill_start_of_use(LOGIN_ID, totp_code(authenticator, -1), totp_code(authenticator, 0))

    expect(page).to_have_url(f"{live_server.url}/home/")
    expect(page.locator("main")).to_contain_text(
        tr("Start of use is registered: log in to the FX edition with the same generator.")
    )
    fx_registration = Registration.objects.for_login(fx_user)
    assert fx_registration is not None
    assert fx_registration.authenticator_id == authenticator.pk  # the same generator, not a copy
    assert fx_registration.origin == Registration.Origin.DOMESTIC_LINK
    assert Registration.objects.for_login(domestic_user).pk == domestic_registration.pk  # untouched
    authenticator.refresh_from_db()
    assert authenticator.last_step in (step, step + 1)  # the second code's step is spent

    # The enrollment page now lists both editions using the generator.
    page.goto(f"{live_server.url}/enroll/")
    expect(page.locator("#twin-status")).to_have_count(0)
    bindings = page.locator("#bindings > li")
    expect(bindings).to_have_count(2)
    fx_since = shown_at(fx_registration.confirmed_at)
    domestic_since = shown_at(domestic_registration.confirmed_at)
    fx_edition, domestic_edition = tr("JWEBOFFICE FX edition"), tr("JWEBOFFICE (domestic edition)")
    expect(bindings.filter(has_text=fx_edition)).to_have_text(
        tr("%(edition)s (%(login_id)s): registered via the domestic edition (start of use %(since)s)")
        % {"edition": fx_edition, "login_id": LOGIN_ID, "since": fx_since}
    )
    expect(bindings.filter(has_text=domestic_edition)).to_have_text(
        tr("%(edition)s (%(login_id)s): registered since %(since)s")
        % {"edition": domestic_edition, "login_id": LOGIN_ID, "since": domestic_since}
    )

    # Log out and in again at the FX entrance: now the generator's code is asked for. The step
    # used by the start of use is spent; the server accepts one step ahead, so the next one works.
    page.locator("header.site-header").get_by_role("button", name=tr("Log out"), exact=True).click()
    expect(page).to_have_url(f"{live_server.url}/fx/login/")
    submit_login(LOGIN_ID, PASSWORD)
    submit_code(totp_code(authenticator, 1))
    expect(page).to_have_url(f"{live_server.url}/home/")
    expect(page.locator("main dl.profile")).to_be_visible()


def test_wrong_codes_change_nothing(page, live_server, twins, open_start_of_use, fill_start_of_use):
    from auth_enforcement.models import Authenticator, Registration

    domestic_user, domestic_registration, fx_user = twins
    authenticator = domestic_registration.authenticator
    open_start_of_use()

    fill_start_of_use(LOGIN_ID, *wrong_codes(authenticator))

    alert = page.get_by_role("alert")
    expect(alert).to_have_text(tr(NOT_CONFIRMED))
    expect(page).to_have_url(f"{live_server.url}{START_OF_USE}")
    assert not Registration.objects.filter(user=fx_user).exists()
    assert Registration.objects.for_login(domestic_user).pk == domestic_registration.pk
    after = Authenticator.objects.get(pk=authenticator.pk)
    assert (after.status, after.last_step) == (authenticator.status, authenticator.last_step)

    # Still logged in with the password only: the home page sends the user back to enrollment.
    page.goto(f"{live_server.url}/home/")
    expect(page).to_have_url(f"{live_server.url}/enroll/")


@pytest.mark.parametrize("lang", ["ja", "en"])
def test_start_of_use_page_is_accessible(page, twins, open_start_of_use, fill_start_of_use, assert_css_loaded, lang):
    open_start_of_use(lang)
    assert_css_loaded()  # without portal.css axe's colour-contrast check means nothing
    fail_on_blocking_violations(page)

    fill_start_of_use(LOGIN_ID, *wrong_codes(twins[1].authenticator), lang=lang)
    expect(page.get_by_role("alert")).to_have_text(tr(NOT_CONFIRMED, lang))
    expect(page.locator("html")).to_have_attribute("lang", lang)
    fail_on_blocking_violations(page)
