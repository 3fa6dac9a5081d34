"""Browser tests: Debian's Chromium driven by Playwright against pytest-django's live server.

See /work/shared/reference/browser-tests.md for why each setting below is needed.
"""

import os
from pathlib import Path

import pytest
from playwright.sync_api import expect, sync_playwright

from tests.conftest import PLAIN_HTTP

HERE = Path(__file__).resolve().parent

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ASYNC_UNSAFE = "DJANGO_ALLOW_ASYNC_UNSAFE"

FX_LOGIN_ID = "taro.fx"
FX_PASSWORD = "Correct-Horse-Battery-42"
FX_NAME = "山田 太郎"
FX_COMPANY = "ジェイウェブ商事株式会社"
FX_CONTRACT_NUMBER = "FX-20190301"


def pytest_collection_modifyitems(items):
    """Mark every test of this folder `browser` (so `-m "not browser"` skips them).

    Without Debian's Chromium they are skipped, except where JWEB_REQUIRE_BROWSER is set (CI),
    where a missing browser must fail the run rather than hide it.
    """
    missing = not Path(CHROMIUM).exists() and not os.environ.get("JWEB_REQUIRE_BROWSER")
    for item in items:
        if item.path.is_relative_to(HERE):
            item.add_marker(pytest.mark.browser)
            if missing:
                item.add_marker(pytest.mark.skip(reason=f"{CHROMIUM} not installed: apt-get install chromium"))


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    """Launch Debian's Chromium (`playwright install` cannot download a browser here)."""
    args = [*browser_type_launch_args.get("args", []), *CHROMIUM_ARGS]
    return {**browser_type_launch_args, "executable_path": CHROMIUM, "args": args}


# Playwright's sync API keeps an asyncio event loop running in the main thread for as long
# as Playwright is started, and Django refuses every ORM call (creating the test database,
# the tests' own fixtures) while a loop runs, unless DJANGO_ALLOW_ASYNC_UNSAFE is set.
#
# pytest-playwright starts Playwright once per session, so the loop, and the need for the
# variable, would last to the end of the run: every later test would run with Django's
# async-safety check off, and subprocesses would inherit the variable (`manage.py check
# --deploy` fails on it: tests/jweboffice/test_settings.py). So the Playwright fixtures are
# redefined here with package scope: Playwright starts with the first browser test (the
# variable set just before) and stops after the last one (the variable restored after).
# They mirror pytest-playwright's own fixtures, so its command-line options still work.


@pytest.fixture(scope="package")
def playwright(_pw_api_request_contexts):
    previous = os.environ.get(ASYNC_UNSAFE)
    os.environ[ASYNC_UNSAFE] = "true"
    pw = sync_playwright().start()
    try:
        if _pw_api_request_contexts:
            _pw_api_request_contexts.instrument(pw)
        yield pw
    finally:
        pw.stop()
        if previous is None:
            os.environ.pop(ASYNC_UNSAFE, None)
        else:
            os.environ[ASYNC_UNSAFE] = previous


@pytest.fixture(scope="package")
def browser_type(playwright, browser_name):
    return getattr(playwright, browser_name)


@pytest.fixture(scope="package")
def launch_browser(browser_type_launch_args, browser_type):
    def launch(**kwargs):
        return browser_type.launch(**{**browser_type_launch_args, **kwargs})

    return launch


@pytest.fixture(scope="package")
def browser(launch_browser):
    browser = launch_browser()
    yield browser
    browser.close()


@pytest.fixture(scope="package")
def browser_context_args(pytestconfig, playwright, device, base_url, _pw_artifacts_folder):
    """pytest-playwright's context options, for a Japanese customer's browser.

    Accept-Language decides the language before any choice is made, so `ja-JP` is what
    makes the pages Japanese, as for the bank's customers.
    """
    context_args = {"locale": "ja-JP", "timezone_id": "Asia/Tokyo"}
    if device:
        context_args.update(playwright.devices[device])
    if base_url:
        context_args["base_url"] = base_url
    if pytestconfig.getoption("--video") in ["on", "retain-on-failure"]:
        context_args["record_video_dir"] = _pw_artifacts_folder.name
    return context_args


# Production settings with HTTPS switched off, for a live server spoken to in plain HTTP.


@pytest.fixture(autouse=True)
def _plain_http_settings(settings):
    """Settings read at each request: plain-HTTP cookies, static files from the finders.

    The live server runs in a thread of this process, so these overrides reach it.
    """
    for name, value in PLAIN_HTTP.items():
        setattr(settings, name, value)
    # The manifest storage needs collectstatic; the plain one lets live_server's static
    # handler serve static/css/portal.css from the finders.
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }


@pytest.fixture
def browser_fx_user_without_factor(transactional_db):
    """An FX-edition service manager with a password only, saved where the live server sees it."""
    from jweboffice.contracts.models import Contract, Customer, User

    customer = Customer.objects.create(name=FX_COMPANY, kana="ジェイウェブショウジ", cif_number="1234567")
    contract = Contract.objects.create(customer=customer, edition="fx", contract_number=FX_CONTRACT_NUMBER)
    return User.objects.create_user(
        FX_LOGIN_ID, FX_PASSWORD, contract=contract, role="manager", name=FX_NAME, email="taro@example.jp"
    )


@pytest.fixture
def browser_fx_user(browser_fx_user_without_factor):
    """The same manager with a one-time password generator registered.

    The second factor is mandatory at the FX edition, so a user without one is sent to
    enrollment instead of the home page.
    """
    from tests.conftest import register_totp

    register_totp(browser_fx_user_without_factor)
    return browser_fx_user_without_factor


@pytest.fixture
def submit_login(page):
    """Fill in the first step of the login wizard and send it (no language-dependent text)."""

    def submit(login_id, password):
        page.locator('input[name="auth-username"]').fill(login_id)
        page.locator('input[name="auth-password"]').fill(password)
        page.locator('main form button[type="submit"]').click()

    return submit


@pytest.fixture
def submit_code(page):
    """Fill in the login's second step with a one-time password and send it."""

    def submit(code):
        field = page.locator('input[name="token-otp_token"]')
        expect(field).to_be_visible()
        field.fill(code)
        # The step also has a "start again" form: press the button of the code's own form.
        page.locator("main form").filter(has=field).locator('button[type="submit"]').click()

    return submit


@pytest.fixture
def current_code():
    """Return the code a user's registered generator shows now."""
    from auth_enforcement.models import Registration
    from tests.conftest import totp_code

    def code(user):
        return totp_code(Registration.objects.for_login(user).authenticator)

    return code


@pytest.fixture
def wrong_code():
    """Return a well-formed code that the user's generator does not show around now."""
    from auth_enforcement.models import Registration
    from tests.conftest import totp_code

    def code(user):
        authenticator = Registration.objects.for_login(user).authenticator
        accepted = {totp_code(authenticator, offset) for offset in (-1, 0, 1)}
        return next(candidate for candidate in ("000000", "111111", "222222", "333333") if candidate not in accepted)

    return code


@pytest.fixture
def log_in(page, live_server, submit_login, submit_code, current_code):
    """Log a user in through the real forms: password, then one-time password; end at home."""

    def log_in_as(user, password):
        submit_login(user.login_id, password)
        submit_code(current_code(user))
        expect(page).to_have_url(f"{live_server.url}/home/")

    return log_in_as


@pytest.fixture
def assert_css_loaded(page):
    """Fail unless portal.css applied: without it axe's colour-contrast check means nothing."""

    def check():
        header = page.locator("header.site-header")
        background = header.evaluate("el => getComputedStyle(el).backgroundColor")
        assert background == "rgb(0, 70, 127)", f"portal.css not applied (header background {background})"

    return check


# Axe impacts that fail a page (JIS X 8341-3: bank customers include screen-reader users).
BLOCKING_IMPACTS = {"serious", "critical"}


def fail_on_blocking_violations(page) -> None:
    """Run axe-core on the page as it is now; fail on any serious or critical violation."""
    from axe_playwright_python.sync_playwright import Axe

    violations = Axe().run(page).response["violations"]
    blocking = [v for v in violations if v["impact"] in BLOCKING_IMPACTS]
    if blocking:
        lines = [f"axe found serious/critical violations on {page.url}:"]
        for v in blocking:
            targets = ", ".join(" ".join(map(str, node["target"])) for node in v["nodes"])
            lines.append(f"  - {v['id']} ({v['impact']}): {v['help']} — {targets}")
        pytest.fail("\n".join(lines))
