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
def test_other_failures_stay_500(signed_in):
    signed_in.raise_request_exception = False
    with override_settings(ROOT_URLCONF=__name__):
        assert signed_in.get("/bug/").status_code == 500
