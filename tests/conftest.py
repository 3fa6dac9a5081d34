"""Fixtures shared by every test: a customer with a contract per edition, its users, bank staff."""

from __future__ import annotations

import os
from datetime import datetime, timedelta

import pyotp
import pytest
import time_machine
from django.contrib.auth.models import Group
from django.test import Client
from django.utils import timezone

from auth_enforcement.models import Authenticator, MandatePolicy, Registration
from jweboffice.contracts.models import Contract, Customer, Edition, User
from jweboffice.contracts.roles import BANK_ADMIN, HELPDESK

PASSWORD = "correct-horse-battery-9"

# Production settings with HTTPS off, for the live server that browsers and the reference
# phone client speak to in plain HTTP.
PLAIN_HTTP = {
    "SECURE_SSL_REDIRECT": False,
    "SECURE_HSTS_SECONDS": 0,
    "SESSION_COOKIE_SECURE": False,
    "CSRF_COOKIE_SECURE": False,
    "LANGUAGE_COOKIE_SECURE": False,
}


class HttpsClient(Client):
    """A test client that always speaks HTTPS, as every browser does in production."""

    def generic(self, *args, **kwargs):
        kwargs["secure"] = True
        return super().generic(*args, **kwargs)


@pytest.fixture
def client() -> HttpsClient:
    return HttpsClient()


@pytest.fixture
def customer(db) -> Customer:
    return Customer.objects.create(name="常陽商事株式会社", kana="ジヨウヨウシヨウジ(カ", cif_number="0012345")


@pytest.fixture
def fx_contract(customer) -> Contract:
    return Contract.objects.create(customer=customer, edition=Edition.FX, contract_number="F-0012345-01")


@pytest.fixture
def domestic_contract(customer) -> Contract:
    return Contract.objects.create(customer=customer, edition=Edition.DOMESTIC, contract_number="D-0012345-01")


@pytest.fixture
def fx_user(fx_contract) -> User:
    return User.objects.create_user(
        "taro01",
        PASSWORD,
        contract=fx_contract,
        role=User.Role.MANAGER,
        can_approve=True,
        name="山田 太郎",
        email="taro@example.jp",
    )


@pytest.fixture
def domestic_user(domestic_contract) -> User:
    return User.objects.create_user(
        "taro01", PASSWORD, contract=domestic_contract, role=User.Role.STAFF, name="山田 太郎", email="taro@example.jp"
    )


@pytest.fixture
def bank_staff(db) -> User:
    return User.objects.create_user("admin01", PASSWORD, is_staff=True, is_superuser=True, name="銀行 管理者")


def add_users(contract: Contract, count: int, start: int = 0) -> None:
    """Add many staff users at once (no password hash: they never log in); half get a credential."""
    User.objects.bulk_create(
        User(
            login_id=f"user{n:05d}",
            account_key=f"{contract.edition}:user{n:05d}",
            edition=contract.edition,
            contract=contract,
            role=User.Role.STAFF,
            name=f"利用者 {n}",
            password="!",
        )
        for n in range(start, start + count)
    )
    for user in User.objects.filter(contract=contract, login_id__startswith="user", registration__isnull=True)[
        : count // 2
    ]:
        register_totp(user)


def log_in(client: Client, entrance: str, login_id: str, password: str = PASSWORD, **extra):
    """Post the first login step at an entrance and return the response."""
    return client.post(
        f"/{entrance}/login/",
        {"entrance_login_view-current_step": "auth", "auth-username": login_id, "auth-password": password},
        **extra,
    )


def totp_code(authenticator: Authenticator, offset: int = 0, at: datetime | None = None) -> str:
    """Compute the real code of a credential at the current time step plus `offset`."""
    totp = pyotp.TOTP(authenticator.totp_secret, digits=authenticator.digits, interval=authenticator.period)
    return totp.generate_otp(totp.timecode(at or timezone.now()) + offset)


def register_totp(user: User) -> Registration:
    """Give a user an active TOTP credential, as a completed enrollment leaves it."""
    authenticator = Authenticator.new_totp(customer=user.customer)
    authenticator.status = Authenticator.Status.ACTIVE
    authenticator.save()
    return Registration.objects.create(user=user, authenticator=authenticator)


def submit_code(client: Client, entrance: str, code: str):
    """Post the login's second step (the one-time password)."""
    return client.post(f"/{entrance}/login/", {"entrance_login_view-current_step": "token", "token-otp_token": code})


def log_in_with_totp(client: Client, user: User, registration: Registration | None = None):
    """Log in fully: password, then the current code of the user's credential."""
    registration = registration or Registration.objects.for_login(user)
    log_in(client, user.entrance, user.login_id)
    return submit_code(client, user.entrance, totp_code(registration.authenticator))


@pytest.fixture
def fx_totp(fx_user) -> Registration:
    return register_totp(fx_user)


@pytest.fixture
def signed_in(client, fx_user, fx_totp) -> Client:
    """A client with the FX manager fully logged in (password and one-time password)."""
    response = log_in_with_totp(client, fx_user, fx_totp)
    assert response.status_code == 302, response.content.decode()[:2000]
    return client


# -- bank staff of each group, signed in with their second factor ---------------------------


def staff_member(login_id: str, group: str, password: str | None = PASSWORD) -> User:
    user = User.objects.create_user(login_id, password, is_staff=True, name=f"銀行 {login_id}")
    user.groups.add(Group.objects.get(name=group))
    return user


def signed_in_as(user: User) -> HttpsClient:
    """Return a client on which the user passed password and one-time password."""
    client = HttpsClient()
    registration = register_totp(user) if user.factor is None else user.factor
    response = log_in_with_totp(client, user, registration)
    assert response.status_code == 302, response.content.decode()[:2000]
    return client


@pytest.fixture
def helpdesk_user(db) -> User:
    return staff_member("desk01", HELPDESK)


@pytest.fixture
def bank_admin(db) -> User:
    return staff_member("officer01", BANK_ADMIN)


@pytest.fixture
def helpdesk(helpdesk_user) -> HttpsClient:
    return signed_in_as(helpdesk_user)


@pytest.fixture
def officer(bank_admin) -> HttpsClient:
    return signed_in_as(bank_admin)


@pytest.fixture
def english(settings) -> None:
    """Render pages in English, the language the assertions are written in."""
    settings.LANGUAGE_CODE = "en"


@pytest.fixture
def frozen():
    """Stop the clock at now; shift it with `frozen.shift(timedelta(...))`."""
    with time_machine.travel(timezone.now(), tick=False) as clock:
        yield clock


@pytest.fixture
def mandate_later(db) -> None:
    """Move both editions' mandates 30 days into the future, with no warning period yet."""
    later = timezone.now() + timedelta(days=30)
    for edition in Edition.values:
        MandatePolicy.objects.update_or_create(edition=edition, defaults={"effective_at": later, "warning_days": 0})


@pytest.fixture(scope="session")
def live_server(request):
    """pytest-django's live server, started while HTTPS is off.

    SecurityMiddleware reads SECURE_SSL_REDIRECT and the HSTS settings once, when the server
    thread builds its handler; a per-test `settings` override would come too late (every
    request would be redirected to https://). The server starts inside a temporary override,
    undone as soon as the handler exists, so the other tests keep the production settings.
    """
    from django.test import override_settings
    from pytest_django.live_server_helper import LiveServer

    addr = request.config.getvalue("liveserver") or os.getenv("DJANGO_LIVE_TEST_SERVER_ADDRESS") or "localhost"
    with override_settings(**PLAIN_HTTP):
        server = LiveServer(addr)  # returns once the thread has built its handler
    yield server
    server.stop()
