import re
from datetime import timedelta

import pytest

from auth_enforcement.models import Authenticator, AuthEvent, PushChallenge, Registration
from jweboffice.contracts.models import Contract, Customer, User
from tests.auth_enforcement.test_push import answer
from tests.conftest import PASSWORD, HttpsClient, log_in, log_in_with_totp, register_totp, submit_code, totp_code

pytestmark = pytest.mark.usefixtures("english")
NOT_CONFIRMED = "The credential could not be confirmed"


def link(client, identifier, authenticator=None, offset=0, first=None, second=None):
    if authenticator is not None:
        first, second = totp_code(authenticator, offset - 1), totp_code(authenticator, offset)
    return client.post(
        "/enroll/start-of-use/",
        {"method": "totp", "identifier": identifier, "first_code": first or "", "second_code": second or ""},
    )


def https_client() -> HttpsClient:
    """A second browser."""
    return HttpsClient()


def test_fx_enrollment_offers_the_domestic_credential_first(client, fx_user, domestic_totp):
    log_in(client, "fx", "taro01")
    page = client.get("/enroll/").content.decode()
    assert 'id="twin-status"' in page and "FX edition: not started" in page
    assert page.index("/enroll/start-of-use/") < page.index("/enroll/totp/")


def test_start_of_use_with_the_domestic_generator(client, frozen, fx_user, domestic_user, domestic_totp):
    log_in(client, "fx", "taro01")
    response = link(client, "taro01", domestic_totp.authenticator)
    assert response["Location"] == "/home/"
    fx = Registration.objects.for_login(fx_user)
    assert fx.authenticator_id == domestic_totp.authenticator_id
    assert fx.origin == Registration.Origin.DOMESTIC_LINK
    assert Registration.objects.for_login(domestic_user).pk == domestic_totp.pk  # untouched
    assert client.get("/home/").status_code == 200
    page = client.get("/enroll/").content.decode()
    assert "registered via the domestic edition" in page and "registered since" in page
    assert AuthEvent.objects.filter(kind=AuthEvent.Kind.LINKED, subject=fx_user).exists()


def test_start_of_use_by_serial(client, frozen, fx_user, domestic_totp):
    log_in(client, "fx", "taro01")
    assert link(client, domestic_totp.authenticator.serial.lower(), domestic_totp.authenticator)["Location"] == "/home/"


def test_then_the_fx_login_uses_it(client, frozen, fx_user, domestic_totp):
    log_in(client, "fx", "taro01")
    link(client, "taro01", domestic_totp.authenticator)
    client.post("/logout/")
    frozen.shift(timedelta(seconds=30))
    log_in(client, "fx", "taro01")
    assert submit_code(client, "fx", totp_code(domestic_totp.authenticator))["Location"] == "/home/"


@pytest.fixture
def other_customers_credential(db) -> Registration:
    other = Customer.objects.create(name="別会社株式会社", kana="ベツガイシヤ(カ", cif_number="0099999")
    contract = Contract.objects.create(customer=other, edition="domestic", contract_number="D-0099999-01")
    user = User.objects.create_user("other01", PASSWORD, contract=contract, role="manager", name="他社 利用者")
    return register_totp(user)


def test_another_customers_credential_is_refused_like_a_wrong_code_and_audited(
    client, frozen, fx_user, domestic_totp, other_customers_credential
):
    log_in(client, "fx", "taro01")
    other = other_customers_credential.authenticator
    refused = link(client, other.serial, other)  # right codes, wrong customer
    wrong = link(client, "taro01", first="000000", second="111111")
    for response in (refused, wrong):
        assert response.status_code == 200 and NOT_CONFIRMED in response.content.decode()
    assert not Registration.objects.filter(user=fx_user).exists()
    event = AuthEvent.objects.filter(kind=AuthEvent.Kind.LINK_FAILED, subject=fx_user).first()
    assert event.details["reason"] == "no such credential of this customer"
    assert Authenticator.objects.get(pk=other.pk).throttling_failure_count == 0  # nothing learnt, nothing changed


def test_codes_already_used_in_the_domestic_edition_do_not_link(client, frozen, fx_user, domestic_user, domestic_totp):
    domestic = https_client()
    assert log_in_with_totp(domestic, domestic_user, domestic_totp)["Location"] == "/home/"  # uses step t
    log_in(client, "fx", "taro01")
    assert NOT_CONFIRMED in link(client, "taro01", domestic_totp.authenticator).content.decode()


def test_a_code_used_in_one_edition_is_refused_in_the_other(client, frozen, fx_user, domestic_user, domestic_totp):
    log_in(client, "fx", "taro01")
    link(client, "taro01", domestic_totp.authenticator)
    client.post("/logout/")
    frozen.shift(timedelta(seconds=30))
    code = totp_code(domestic_totp.authenticator)
    domestic = https_client()
    log_in(domestic, "domestic", "taro01")
    assert submit_code(domestic, "domestic", code)["Location"] == "/home/"
    frozen.shift(timedelta(seconds=3))
    log_in(client, "fx", "taro01")
    assert submit_code(client, "fx", code).status_code == 200
    assert "_auth_user_id" not in client.session


def test_attempts_are_throttled(client, frozen, fx_user, domestic_totp):
    log_in(client, "fx", "taro01")
    for _ in range(5):
        link(client, "nobody99", first="000000", second="111111")
    response = link(client, "taro01", domestic_totp.authenticator)
    assert "Too many attempts" in response.content.decode()
    assert not Registration.objects.filter(user=fx_user).exists()


def test_a_domestic_user_has_no_start_of_use(client, domestic_user):
    log_in(client, "domestic", "taro01")
    assert client.get("/enroll/start-of-use/")["Location"] == "/enroll/"


def test_start_of_use_with_the_domestic_app(client, keys, fx_user, domestic_user, push_factory):
    domestic = push_factory(domestic_user)
    log_in(client, "fx", "taro01")
    page = client.post("/enroll/start-of-use/", {"method": "push", "identifier": "taro01"}).content.decode()
    challenge = PushChallenge.objects.get(purpose=PushChallenge.Purpose.LINK)
    assert challenge.user == fx_user and challenge.authenticator_id == domestic.authenticator_id
    assert f'<strong id="push-number">{challenge.number}</strong>' in page
    assert "in the FX edition" in challenge.question
    assert client.get("/enroll/start-of-use/status/").json()["status"] == "pending"
    answer(client, keys, challenge, presence=challenge.number)
    assert client.get("/enroll/start-of-use/status/").json() == {"status": "done", "next": "/home/"}
    fx = Registration.objects.for_login(fx_user)
    assert (fx.authenticator_id, fx.origin) == (domestic.authenticator_id, Registration.Origin.DOMESTIC_LINK)
    assert client.get("/home/").status_code == 200


def test_start_of_use_pushes_are_rate_limited_with_the_logins_of_that_phone(
    fx_user, domestic_user, push_factory, settings
):
    # Each start of use from a fresh session is a push to a colleague's phone (MFA fatigue, rule 7).
    domestic = push_factory(domestic_user)
    for _ in range(settings.JWEB_PUSH_MAX_PER_WINDOW + 2):
        browser = HttpsClient()
        log_in(browser, "fx", "taro01")
        browser.post("/enroll/start-of-use/", {"method": "push", "identifier": "taro01"})
    assert PushChallenge.objects.count() == settings.JWEB_PUSH_MAX_PER_WINDOW
    refused = AuthEvent.objects.filter(kind=AuthEvent.Kind.PUSH_RATE_LIMITED, subject=fx_user)
    assert refused.count() == 2 and refused.first().details["purpose"] == "link"
    # The phone's own holder, logging in now, is refused too: the limit is the phone's.
    page = log_in(HttpsClient(), "domestic", "taro01").content.decode()
    assert "Too many push requests" in page
    assert PushChallenge.objects.filter(authenticator_id=domestic.authenticator_id).count() == (
        settings.JWEB_PUSH_MAX_PER_WINDOW
    )


def test_an_unknown_app_gets_a_wait_that_never_ends_and_no_push(client, fx_user, domestic_user, push_factory):
    push_factory(domestic_user)
    log_in(client, "fx", "taro01")
    page = client.post("/enroll/start-of-use/", {"method": "push", "identifier": "JWP999999999"}).content.decode()
    assert re.search(r'<strong id="push-number">\d\d</strong>', page)  # looks like any other wait
    assert client.get("/enroll/start-of-use/status/").json()["status"] == "pending"
    assert not PushChallenge.objects.exists()
    assert AuthEvent.objects.filter(kind=AuthEvent.Kind.LINK_FAILED, subject=fx_user).exists()


@pytest.fixture
def both_signed_in(client, frozen, fx_user, domestic_user, domestic_totp):
    """The domestic user and the linked FX user, each logged in fully in their own browser."""
    log_in(client, "fx", "taro01")
    link(client, "taro01", domestic_totp.authenticator)
    frozen.shift(timedelta(seconds=30))
    domestic = https_client()
    log_in_with_totp(domestic, domestic_user, domestic_totp)
    assert domestic.get("/home/").status_code == 200 and client.get("/home/").status_code == 200
    return client, domestic


def test_reporting_the_device_lost_revokes_it_in_both_editions_and_ends_every_session(
    both_signed_in, frozen, fx_user, domestic_totp
):
    fx, domestic = both_signed_in
    assert fx.post("/enroll/lost/", {"confirm": "yes"})["Location"] == "/fx/login/"
    assert Authenticator.objects.get(pk=domestic_totp.authenticator_id).status == Authenticator.Status.REVOKED
    assert not Registration.objects.active().exists()
    assert domestic.get("/home/")["Location"] == "/?next=/home/"  # the other browser is logged out too
    frozen.shift(timedelta(seconds=30))
    log_in(domestic, "domestic", "taro01")  # and the old generator no longer opens anything
    assert domestic.get("/home/")["Location"] == "/enroll/"
    assert AuthEvent.objects.filter(kind=AuthEvent.Kind.LOST).count() == 2


def test_reporting_a_loss_without_ticking_the_box_changes_nothing(both_signed_in, fx_user, domestic_totp):
    fx, _ = both_signed_in
    response = fx.post("/enroll/lost/", follow=True)
    assert "Tick the box to confirm" in response.content.decode()
    assert Authenticator.objects.get(pk=domestic_totp.authenticator_id).status == Authenticator.Status.ACTIVE
    assert fx.get("/home/").status_code == 200 and not AuthEvent.objects.filter(kind=AuthEvent.Kind.LOST).exists()


def test_unlinking_the_fx_binding_leaves_the_domestic_one_working(both_signed_in, frozen, fx_user, domestic_totp):
    fx, domestic = both_signed_in
    assert fx.post("/enroll/unlink/")["Location"] == "/fx/login/"
    assert Registration.objects.for_login(fx_user) is None
    assert domestic.get("/home/").status_code == 200  # domestic session and binding untouched
    assert fx.get("/home/")["Location"] == "/?next=/home/"
    frozen.shift(timedelta(seconds=30))
    again = https_client()
    log_in(again, "domestic", "taro01")
    assert submit_code(again, "domestic", totp_code(domestic_totp.authenticator))["Location"] == "/home/"


def test_before_the_fx_mandate_the_banner_says_only_start_of_use_is_missing(
    client, mandate_later, fx_user, domestic_totp
):
    log_in(client, "fx", "taro01")
    page = client.get("/home/").content.decode()
    assert 'id="start-of-use-hint"' in page and 'href="/enroll/start-of-use/"' in page
