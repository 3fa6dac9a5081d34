"""A database outage gets a clear "try again" page (503), other failures Django's 500."""

from __future__ import annotations

import pytest
from django.db import OperationalError
from django.test import override_settings
from django.urls import path

from jweboffice.urls import handler500  # noqa: F401 - this module is also the URL conf under test


def database_gone(request):
    raise OperationalError("server closed the connection unexpectedly")


def bug(request):
    raise ValueError("a bug")


urlpatterns = [path("database-gone/", database_gone), path("bug/", bug)]


@pytest.mark.django_db
def test_a_database_outage_answers_503_with_try_again(signed_in):
    signed_in.raise_request_exception = False
    with override_settings(ROOT_URLCONF=__name__):
        response = signed_in.get("/database-gone/")
    assert response.status_code == 503
    assert response["Retry-After"] == "5"
    page = response.content.decode()
    assert "しばらくしてから再度お試しください" in page and "try again" in page


@pytest.mark.django_db
def test_other_failures_stay_500_with_the_bank_s_page_in_both_languages(signed_in):
    signed_in.raise_request_exception = False
    with override_settings(ROOT_URLCONF=__name__):
        response = signed_in.get("/bug/")
    assert response.status_code == 500
    page = response.content.decode()
    assert "システムエラーが発生しました" in page and "Something went wrong" in page and "ValueError" not in page


@pytest.mark.django_db
def test_a_missing_page_says_so_in_japanese_and_english(signed_in):
    response = signed_in.get("/no-such-page/")
    assert response.status_code == 404
    page = response.content.decode()
    assert "ページが見つかりません" in page and "Page not found" in page


@pytest.mark.django_db
def test_a_forbidden_page_says_so_in_japanese_and_english(signed_in):
    # A service manager opening their own factor's management page: the bank resets it.
    from jweboffice.contracts.models import User

    manager = User.objects.get(login_id="taro01")
    response = signed_in.post(f"/manager/users/{manager.pk}/reset/", {"reset-reason": "自分の端末を変えたい"})
    assert response.status_code == 403
    page = response.content.decode()
    assert "このページは表示できません" in page and "You cannot open this page" in page


@pytest.mark.django_db
def test_a_stale_form_gets_a_page_that_says_what_happened(fx_user):
    from django.test import Client

    browser = Client(enforce_csrf_checks=True)
    response = browser.post("/fx/login/", {"entrance_login_view-current_step": "auth"}, secure=True)
    assert response.status_code == 403
    page = response.content.decode()
    assert "画面の有効期限が切れました" in page and "This page has expired" in page
