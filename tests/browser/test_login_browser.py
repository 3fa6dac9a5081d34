"""Log in at the FX entrance through the real forms, switch language, log out."""

from playwright.sync_api import expect

from tests.browser.conftest import FX_COMPANY, FX_CONTRACT_NUMBER, FX_NAME, FX_PASSWORD


def test_fx_login_home_language_switch_and_logout(
    page, live_server, browser_fx_user, submit_login, submit_code, current_code, assert_css_loaded
):
    page.goto(f"{live_server.url}/fx/login/")
    expect(page.locator("html")).to_have_attribute("lang", "ja")
    assert_css_loaded()

    # First step: user ID and password; second step: the generator's one-time password.
    submit_login(browser_fx_user.login_id, FX_PASSWORD)
    expect(page.locator('input[name="auth-password"]')).to_have_count(0)
    submit_code(current_code(browser_fx_user))

    expect(page).to_have_url(f"{live_server.url}/home/")
    expect(page.locator("html")).to_have_attribute("lang", "ja")
    header = page.locator("header.site-header")
    expect(header).to_contain_text(FX_NAME)
    expect(header).to_contain_text(FX_COMPANY)
    profile = page.locator("main dl.profile")
    expect(profile).to_contain_text(FX_NAME)
    expect(profile).to_contain_text(FX_COMPANY)
    expect(profile).to_contain_text(FX_CONTRACT_NUMBER)
    expect(page.locator("main ul.services li").first).to_be_visible()

    # The header's language switch: the Japanese page offers "English".
    header.get_by_role("button", name="English", exact=True).click()
    expect(page).to_have_url(f"{live_server.url}/home/")
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.get_by_role("heading", level=1)).to_have_text("Services")
    expect(header.get_by_role("button", name="日本語", exact=True)).to_be_visible()
    expect(page.locator("main dl.profile")).to_contain_text(FX_CONTRACT_NUMBER)

    header.get_by_role("button", name="Log out", exact=True).click()
    # Logout sends the user back to their own entrance.
    expect(page).to_have_url(f"{live_server.url}/fx/login/")
    expect(page.locator('input[name="auth-username"]')).to_be_visible()
    expect(header.get_by_role("button", name="Log out")).to_have_count(0)

    # The session has ended on the server: the home page now sends the browser to the entrance.
    page.goto(f"{live_server.url}/home/")
    expect(page).to_have_url(f"{live_server.url}/?next=/home/")  # the entrance, not the home page
    expect(page.locator("dl.profile")).to_have_count(0)
    expect(page.locator("header.site-header")).not_to_contain_text(FX_NAME)
