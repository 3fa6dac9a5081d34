import pytest
from django.templatetags.static import static
from django.test.utils import override_script_prefix
from django.urls import reverse

from tests.conftest import log_in_with_totp, register_totp


@pytest.fixture
def fx_client(signed_in):
    return signed_in


@pytest.mark.parametrize("path", ["/home/", "/services/remittance/", "/admin/"])
def test_anonymous_visitor_reaches_no_protected_page(client, db, path):
    response = client.get(path)
    assert response.status_code == 302
    assert "login" in response["Location"] or response["Location"].startswith("/?next=")


@pytest.mark.parametrize("path", ["/", "/fx/login/", "/domestic/login/", "/bank/login/", "/notice/"])
def test_entrances_and_notice_are_open(client, db, path):
    assert client.get(path).status_code == 200


def test_home_shows_the_user_company_contract_and_role(fx_client, settings):
    settings.LANGUAGE_CODE = "en"
    page = fx_client.get("/home/").content.decode()
    for fact in ("山田 太郎", "常陽商事株式会社", "F-0012345-01", "service manager", "with approval permission"):
        assert fact in page


def test_home_lists_the_services_of_the_users_edition_only(fx_client):
    page = fx_client.get("/home/").content.decode()
    assert "/services/remittance/" in page
    assert "/services/payroll/" not in page


def test_home_links_to_the_users_second_factor_page(fx_client):
    # Switching method and reporting a lost device start there: no address to type.
    page = fx_client.get("/home/").content.decode()
    assert f'href="{reverse("auth_enforcement:enroll")}"' in page
    assert fx_client.get(reverse("auth_enforcement:enroll")).status_code == 200


def test_service_of_another_edition_does_not_exist(fx_client):
    assert fx_client.get("/services/remittance/").status_code == 200
    assert fx_client.get("/services/payroll/").status_code == 404


def test_japanese_is_the_default_language(fx_client):
    page = fx_client.get("/home/").content.decode()
    assert '<html lang="ja">' in page


def test_language_switch_turns_the_page_english(fx_client):
    response = fx_client.post("/i18n/setlang/", {"language": "en", "next": "/home/"})
    assert response["Location"] == "/home/"
    page = fx_client.get("/home/").content.decode()
    assert '<html lang="en">' in page
    assert "<h1>Services</h1>" in page


def test_bank_staff_home_is_the_admin(client, bank_staff):
    log_in_with_totp(client, bank_staff, register_totp(bank_staff))
    assert client.get("/home/")["Location"] == "/admin/"


def test_security_headers_are_sent(client, db):
    response = client.get("/fx/login/")
    assert response["X-Frame-Options"] == "DENY"
    assert response["Strict-Transport-Security"].startswith("max-age=31536000")
    assert "default-src 'self'" in response["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in response["Content-Security-Policy"]
    assert response["X-Content-Type-Options"] == "nosniff"


def test_plain_http_is_redirected_to_https(db):
    from django.test import Client

    response = Client().get("/fx/login/")
    assert response.status_code == 301
    assert response["Location"] == "https://testserver/fx/login/"


@pytest.mark.parametrize("prefix", ["/", "/jweb/"])
def test_the_layouts_links_are_those_url_and_static_give(fx_client, prefix):
    # Worked out once per script prefix (jweboffice.portal.context_processors), not on each page.
    with override_script_prefix(prefix):  # the portal served under a path (gunicorn's SCRIPT_NAME, a proxy's)
        page = fx_client.get("/home/").content.decode()
        expected = {
            f'<link rel="stylesheet" href="{static("css/portal.css")}">',
            f'<div class="brand"><a href="{reverse("portal:entrance")}">',
            f'<form method="post" action="{reverse("auth_enforcement:logout")}"',
            f'<form method="post" action="{reverse("set_language")}"',
            f'<p><a href="{reverse("portal:notice")}">',
        }
    assert {html for html in expected if html not in page} == set()
    assert f'href="{prefix}notice/"' in page
