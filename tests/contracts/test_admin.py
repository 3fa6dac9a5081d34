"""The admin for bank staff: second-factor status, filters, search, actions with a reason, CSV, audit."""

from __future__ import annotations

import csv
import io

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.db import connection
from django.test.utils import CaptureQueriesContext

from auth_enforcement.models import Authenticator, AuthEvent, Registration
from jweboffice.contracts.models import Edition
from tests.conftest import HttpsClient, add_users, log_in_with_totp

pytestmark = pytest.mark.usefixtures("english")

USERS = "/admin/contracts/user/"


def listed(response) -> set[str]:
    return {user.account_key for user in response.context["cl"].result_list}


def available_actions(client, path: str) -> set[str]:
    form = client.get(path).context["action_form"]  # None when the user may run no action
    return {name for name, _ in form.fields["action"].choices if name} if form else set()


def run_action(client, action: str, users, **extra):
    data = {"action": action, ACTION_CHECKBOX_NAME: [user.pk for user in users], "index": 0, **extra}
    return client.post(USERS, data)


def test_changelist_shows_each_users_second_factor(officer, fx_user, fx_totp, domestic_user):
    page = officer.get(USERS).content.decode()
    assert fx_totp.authenticator.serial in page and "not registered" in page


def queries_of(client, path: str) -> int:
    client.get(path)
    with CaptureQueriesContext(connection) as queries:
        assert client.get(path).status_code == 200
    return len(queries)


@pytest.mark.parametrize("path", [USERS, USERS + "?enrolled=yes&method=totp", USERS + "?q=%E9%99%BD%E5%95%86"])
def test_changelist_runs_the_same_number_of_queries_for_10_or_1000_users(officer, fx_contract, path, settings):
    settings.DEBUG = False
    add_users(fx_contract, 10)
    few = queries_of(officer, path)
    add_users(fx_contract, 990, start=10)
    assert queries_of(officer, path) == few


def test_filters_by_enrolled_method_and_lock(officer, fx_user, fx_totp, domestic_user, bank_admin, settings):
    push = Authenticator.objects.create(kind="push", serial="JWP000000001", status="active")
    Registration.objects.create(user=domestic_user, authenticator=push)
    for _ in range(settings.JWEB_LOCK_AFTER_FAILURES):
        fx_totp.authenticator.record_failure()
    assert listed(officer.get(USERS, {"enrolled": "no", "edition": "fx"})) == set()
    assert listed(officer.get(USERS, {"method": "push"})) == {"domestic:taro01"}
    assert listed(officer.get(USERS, {"method": "totp", "edition": "fx"})) == {"fx:taro01"}
    assert listed(officer.get(USERS, {"locked": "yes"})) == {"fx:taro01"}
    assert "domestic:taro01" in listed(officer.get(USERS, {"locked": "no"}))


@pytest.mark.parametrize(
    ("term", "expected"),
    [
        ("F-0012345-01", {"fx:taro01"}),
        ("ジヨウヨウ", {"fx:taro01", "domestic:taro01"}),
        ("常陽", {"fx:taro01", "domestic:taro01"}),
    ],
)
def test_search_by_contract_number_company_name_or_kana(officer, fx_user, domestic_user, term, expected):
    assert listed(officer.get(USERS, {"q": term})) == expected


def test_search_by_serial(officer, fx_user, fx_totp, domestic_user):
    assert listed(officer.get(USERS, {"q": fx_totp.authenticator.serial.lower()})) == {"fx:taro01"}


def test_helpdesk_is_read_only_in_the_admin(helpdesk, fx_user, fx_totp):
    change = f"{USERS}{fx_user.pk}/change/"
    page = helpdesk.get(change)
    assert page.status_code == 200 and 'name="_save"' not in page.content.decode()
    assert helpdesk.post(change, {"name": "changed"}).status_code == 403
    assert available_actions(helpdesk, USERS) == set()
    response = run_action(helpdesk, "reset_factor", [fx_user], reason="紛失の連絡を受けた", apply="1")
    assert Registration.objects.for_login(fx_user) == fx_totp
    assert response.status_code in (200, 302)


def test_reset_action_asks_for_a_reason_and_changes_nothing_without_one(officer, fx_user, fx_totp):
    page = run_action(officer, "reset_factor", [fx_user])
    assert page.status_code == 200 and 'name="reason"' in page.content.decode()
    again = run_action(officer, "reset_factor", [fx_user], apply="1", reason="")
    assert "Enter the reason" in again.content.decode()
    assert Registration.objects.for_login(fx_user) == fx_totp


def test_reset_action_with_a_reason_revokes_and_records_it(officer, bank_admin, fx_user, fx_totp):
    response = run_action(officer, "reset_factor", [fx_user], apply="1", reason="支店窓口で本人確認、紛失")
    assert response.status_code == 302
    assert Registration.objects.for_login(fx_user) is None
    event = AuthEvent.objects.get(kind=AuthEvent.Kind.RESET)
    assert (event.actor, event.subject, event.details["via"]) == (bank_admin, fx_user, "admin")


def test_nobody_resets_their_own_factor_in_the_admin(officer, bank_admin):
    run_action(officer, "reset_factor", [bank_admin], apply="1", reason="自分の端末を変えたい")
    assert Registration.objects.for_login(bank_admin) is not None


@pytest.mark.parametrize("model", ["registration", "authenticator"])
def test_no_officer_deletes_a_factor_in_the_admin(officer, fx_user, fx_totp, model):
    # Deleting would end the factor without a reason, a reset line, a mail or the sessions ended.
    pk = fx_totp.pk if model == "registration" else fx_totp.authenticator_id
    listing = f"/admin/auth_enforcement/{model}/"
    assert officer.get(f"{listing}{pk}/delete/").status_code == 403
    officer.post(listing, {"action": "delete_selected", ACTION_CHECKBOX_NAME: [pk], "post": "yes"})
    assert "delete_selected" not in officer.get(listing).content.decode()
    assert Registration.objects.for_login(fx_user) == fx_totp
    assert not AuthEvent.objects.filter(details__action="deleted").exists()


def test_unlock_action_with_a_reason(officer, fx_user, fx_totp, settings):
    for _ in range(settings.JWEB_LOCK_AFTER_FAILURES):
        fx_totp.authenticator.record_failure()
    run_action(officer, "unlock_factor", [fx_user], apply="1", reason="本人確認のうえ解除")
    fx_totp.authenticator.refresh_from_db()
    assert not fx_totp.authenticator.is_locked
    assert AuthEvent.objects.get(kind=AuthEvent.Kind.UNLOCKED).details["reason"] == "本人確認のうえ解除"


def read_csv(response) -> list[dict]:
    body = b"".join(response.streaming_content).decode("utf-8-sig")
    return list(csv.DictReader(io.StringIO(body)))


def test_user_export_has_the_status_and_no_secret(officer, fx_user, fx_totp, domestic_user):
    domestic_user.name = "=HYPERLINK(1)"
    domestic_user.save()
    response = run_action(officer, "export_csv", [fx_user, domestic_user])
    assert response["Content-Type"].startswith("text/csv")
    rows = {row["account_key"]: row for row in read_csv(response)}
    assert rows["fx:taro01"]["serial"] == fx_totp.authenticator.serial and rows["fx:taro01"]["method"] == "totp"
    assert rows["domestic:taro01"]["name"] == "'=HYPERLINK(1)"  # stays text in a spreadsheet
    assert fx_totp.authenticator.totp_secret not in str(rows)


def test_a_change_in_the_admin_is_audited(officer, bank_admin, fx_user):
    change = f"{USERS}{fx_user.pk}/change/"
    form = officer.get(change).context["adminform"].form
    data = {name: value for name, value in form.initial.items() if value is not None and name != "groups"}
    data.update(
        login_id=fx_user.login_id, contract=fx_user.contract_id, name="山田 次郎", role="manager", is_active="on"
    )
    assert officer.post(change, data).status_code == 302
    event = AuthEvent.objects.get(kind=AuthEvent.Kind.ADMIN_ACTION, subject=fx_user)
    assert event.actor == bank_admin and event.details["action"] == "changed" and "name" in str(event.details).lower()


def test_no_admin_page_shows_a_secret(officer, fx_user, fx_totp):
    authenticator = fx_totp.authenticator
    HttpsClient().get("/")
    log_in_with_totp(HttpsClient(), fx_user, fx_totp)
    pages = [
        USERS,
        f"{USERS}{fx_user.pk}/change/",
        "/admin/auth_enforcement/authenticator/",
        f"/admin/auth_enforcement/authenticator/{authenticator.pk}/change/",
        "/admin/auth_enforcement/registration/",
        f"/admin/auth_enforcement/registration/{fx_totp.pk}/change/",
        "/admin/auth_enforcement/authevent/",
    ]
    for path in pages:
        page = officer.get(path).content.decode()
        assert authenticator.totp_secret not in page, path
        assert authenticator.secret_sealed[:40] not in page, path


def test_the_audit_export_streams_every_event_and_is_itself_audited(officer, bank_admin, fx_user, fx_totp):
    log_in_with_totp(HttpsClient(), fx_user, fx_totp)
    data = {"action": "export_csv", "select_across": "1", "index": 0, ACTION_CHECKBOX_NAME: ["0"]}
    rows = read_csv(officer.post("/admin/auth_enforcement/authevent/", data))
    kinds = {row["event"] for row in rows}
    assert {"login_password_ok", "factor_ok", "login_completed"} <= kinds
    assert all(row["time_utc"].endswith("+00:00") for row in rows)
    assert fx_totp.authenticator.totp_secret not in str(rows)
    assert AuthEvent.objects.filter(kind=AuthEvent.Kind.AUDIT_EXPORTED, actor=bank_admin).exists()


def test_helpdesk_cannot_export_the_audit_trail(helpdesk, fx_user):
    assert "export_csv" not in available_actions(helpdesk, "/admin/auth_enforcement/authevent/")
    data = {"action": "export_csv", "select_across": "1", "index": 0, ACTION_CHECKBOX_NAME: ["0"]}
    response = helpdesk.post("/admin/auth_enforcement/authevent/", data)
    assert not response.get("Content-Type", "").startswith("text/csv")
    assert not AuthEvent.objects.filter(kind=AuthEvent.Kind.AUDIT_EXPORTED).exists()


def test_an_edition_filter_exists_for_registrations(officer, fx_user, fx_totp):
    response = officer.get("/admin/auth_enforcement/registration/", {"user__edition": Edition.FX})
    assert [r.pk for r in response.context["cl"].result_list] == [fx_totp.pk]
