"""The help desk's page: one search box, the user card, unlock and reset with a reason, the queue."""

from __future__ import annotations

import html
import re
from datetime import timedelta

import pytest
from django.core import mail
from django.db import connection
from django.test.utils import CaptureQueriesContext, override_script_prefix
from django.urls import reverse

from auth_enforcement.models import Authenticator, AuthEvent, Registration
from jweboffice.contracts.models import Contract, Customer, Edition, User
from jweboffice.helpdesk import flows
from tests.conftest import HttpsClient, add_users, log_in_with_totp

pytestmark = pytest.mark.usefixtures("english")


def found_ids(response) -> set[str]:
    """Return the login IDs the result tables link to."""
    result = response.context["result"]
    return {user.login_id for user in result.exact + result.partial}


def test_search_by_login_id_typed_full_width(helpdesk, fx_user, domestic_user):
    response = helpdesk.get("/helpdesk/", {"q": "ＴＡＲＯ０１"})
    assert {(u.edition, u.login_id) for u in response.context["result"].exact} == {
        (Edition.FX, "taro01"),
        (Edition.DOMESTIC, "taro01"),
    }


def test_search_by_contract_number_finds_the_contracts_users(helpdesk, fx_user, domestic_user):
    response = helpdesk.get("/helpdesk/", {"q": "F-0012345-01"})
    assert [u.pk for u in response.context["result"].exact] == [fx_user.pk]


def test_search_by_serial_finds_every_holder_past_and_present(helpdesk, fx_user, fx_totp, domestic_user):
    serial = fx_totp.authenticator.serial
    Registration.objects.create(user=domestic_user, authenticator=fx_totp.authenticator, origin="domestic_link")
    fx_totp.revoked_at = fx_totp.confirmed_at
    fx_totp.save()
    response = helpdesk.get("/helpdesk/", {"q": serial.lower()})
    assert {u.pk for u in response.context["result"].exact} == {fx_user.pk, domestic_user.pk}


def test_search_by_part_of_the_company_name(helpdesk, fx_user):
    assert found_ids(helpdesk.get("/helpdesk/", {"q": "陽商"})) == {"taro01"}


def test_search_by_kana_typed_in_hiragana_or_half_width(helpdesk, fx_user):
    assert found_ids(helpdesk.get("/helpdesk/", {"q": "しようじ"})) == {"taro01"}
    assert found_ids(helpdesk.get("/helpdesk/", {"q": "ｼﾖｳｼﾞ"})) == {"taro01"}


@pytest.mark.parametrize("typed", ["じょうよう", "ジョウヨウ", "ｼﾞｮｳﾖｳ", "しょうじ"])
def test_search_by_kana_with_small_kana_as_people_spell_it(helpdesk, fx_user, typed):
    # Stored as the bank writes it (ジヨウヨウシヨウジ), typed as people spell it.
    assert found_ids(helpdesk.get("/helpdesk/", {"q": typed})) == {"taro01"}


def test_a_kana_name_is_stored_with_small_kana_written_large(customer):
    customer.kana = "ジョウヨウショウジ(カ"
    customer.save()
    customer.refresh_from_db()
    assert customer.kana == "ジヨウヨウシヨウジ(カ"


def test_search_never_lists_bank_staff(helpdesk, helpdesk_user):
    response = helpdesk.get("/helpdesk/", {"q": helpdesk_user.login_id})
    assert response.context["result"].empty
    assert "Nobody matches" in response.content.decode()


def test_search_never_lists_bank_staff_by_their_serial(helpdesk, helpdesk_user, fx_user, fx_totp):
    # The exact lookup finds every holder of a serial; only customer users reach the table.
    serial = helpdesk_user.factor.authenticator.serial
    assert helpdesk.get("/helpdesk/", {"q": serial}).context["result"].empty
    assert found_ids(helpdesk.get("/helpdesk/", {"q": fx_totp.authenticator.serial})) == {"taro01"}


def test_one_character_does_not_search_company_names(helpdesk, fx_user):
    response = helpdesk.get("/helpdesk/", {"q": "商"})
    assert response.context["result"].empty


def test_too_long_a_query_is_refused_with_a_message(helpdesk, fx_user):
    response = helpdesk.get("/helpdesk/", {"q": "x" * 65})
    assert response.context["result"] is None
    assert "at most 64 characters" in response.content.decode()


def many_users(customer: Customer, count: int, start: int = 0) -> None:
    contract = Contract.objects.create(customer=customer, edition=Edition.FX, contract_number=f"F-{start:07d}")
    add_users(contract, count, start)


def test_results_are_paginated(helpdesk, customer):
    many_users(customer, 25)
    first = helpdesk.get("/helpdesk/", {"q": "陽商"})
    second = helpdesk.get("/helpdesk/", {"q": "陽商", "page": 2})
    assert len(first.context["result"].partial) == 20 and first.context["result"].has_next
    assert len(second.context["result"].partial) == 5 and not second.context["result"].has_next
    assert found_ids(first).isdisjoint(found_ids(second))
    assert 'rel="next"' in first.content.decode()


def link(response, rel: str) -> str:
    """Return the path and query of the page's Next or Previous link, as a browser follows it."""
    match = re.search(rf'<a href="(\?[^"]+)" rel="{rel}">', response.content.decode())
    return "/helpdesk/" + html.unescape(match.group(1))


@pytest.mark.parametrize("prefix", ["/", "/jweb/"])
def test_each_row_links_to_the_users_card(helpdesk, customer, prefix):
    many_users(customer, 12, start=95)  # ids of one and two digits, and more
    with override_script_prefix(prefix):  # the portal served under a path (gunicorn's SCRIPT_NAME, a proxy's)
        response = helpdesk.get("/helpdesk/", {"q": "陽商"})
        users = response.context["result"].partial
        expected = [reverse("helpdesk:card", args=[user.pk]) for user in users]
    links = re.findall(r'<th scope="row"><a href="([^"]+)">', response.content.decode())
    assert links == expected and len(links) == 12
    assert all(link.startswith(f"{prefix}helpdesk/users/") for link in links)


def test_next_and_previous_links_walk_the_pages(helpdesk, customer):
    many_users(customer, 45)
    first = helpdesk.get("/helpdesk/", {"q": "陽商"})
    second = helpdesk.get(link(first, "next"))
    third = helpdesk.get(link(second, "next"))
    assert [len(page.context["result"].partial) for page in (first, second, third)] == [20, 20, 5]
    assert len(found_ids(first) | found_ids(second) | found_ids(third)) == 45
    assert 'rel="next"' not in third.content.decode()
    # The second page was found from where the first ended, not counted out.
    assert second.context["result"].trail == (first.context["result"].partial[-1].pk,)
    assert found_ids(helpdesk.get(link(third, "prev"))) == found_ids(second)
    assert found_ids(helpdesk.get(link(second, "prev"))) == found_ids(first)


@pytest.mark.parametrize(
    "params",
    [
        {"page": "2", "after": "12,abc"},
        {"page": "2", "after": "-1"},
        {"page": "2", "after": "１２"},  # full-width digits
        {"page": "2", "after": ",".join(["1"] * (flows.MAX_TRAIL + 1))},
        {"page": "2", "after": str(2**63)},  # beyond any id the database holds
        {"page": "3", "after": f"1,{10**19 - 1}"},  # in the trail: a Previous link would carry it
        {"page": "2", "after": "1\x002"},
        {"page": "0"},
        {"page": "x"},
    ],
)
def test_a_damaged_page_link_is_refused_with_a_message(helpdesk, customer, params):
    # No 500, no results, no queue: the message only.
    many_users(customer, 25)
    response = helpdesk.get("/helpdesk/", {"q": "陽商", **params})
    assert response.status_code == 200 and response.context["result"] is None
    assert "This page link is not valid. Search again." in response.content.decode()


def test_the_largest_id_is_a_page_link_like_any_other(helpdesk, customer):
    many_users(customer, 25)
    response = helpdesk.get("/helpdesk/", {"q": "陽商", "page": "2", "after": str(2**63 - 1)})
    assert len(response.context["result"].partial) == 5  # nobody has it: page 2 counted out


def count_queries(client, path: str, params: dict) -> int:
    client.get(path, params)  # the session's first request after login writes once more
    with CaptureQueriesContext(connection) as queries:
        assert client.get(path, params).status_code == 200
    return len(queries)


def test_search_runs_the_same_number_of_queries_for_10_or_1000_users(helpdesk, customer):
    many_users(customer, 10)
    searches = [{"q": "陽商"}, {"q": "F-0000000"}]
    few = [count_queries(helpdesk, "/helpdesk/", params) for params in searches]
    many_users(customer, 990, start=10)
    assert [count_queries(helpdesk, "/helpdesk/", params) for params in searches] == few


def test_queue_runs_the_same_number_of_queries_for_few_or_many_cases(helpdesk, customer):
    many_users(customer, 40)
    users = list(User.objects.filter(login_id__startswith="user"))
    for user in users[:2]:
        AuthEvent.objects.create(kind=AuthEvent.Kind.LOCKED, subject=user, actor=user, edition=Edition.FX)
    few = count_queries(helpdesk, "/helpdesk/", {})
    for user in users[2:]:
        AuthEvent.objects.create(kind=AuthEvent.Kind.PUSH_NOT_ME, subject=user, actor=user, edition=Edition.FX)
    assert count_queries(helpdesk, "/helpdesk/", {}) == few


def test_card_shows_the_factor_and_history_but_never_the_secret(helpdesk, fx_user, fx_totp):
    HttpsClient().post("/fx/login/", {})  # noise that must not matter
    log_in_with_totp(HttpsClient(), fx_user, fx_totp)
    response = helpdesk.get(f"/helpdesk/users/{fx_user.pk}/")
    page = response.content.decode()
    authenticator = fx_totp.authenticator
    assert authenticator.serial in page and "one-time password" in page
    assert "second factor accepted" in page  # the timeline
    assert authenticator.totp_secret not in page and authenticator.secret_sealed not in page


def test_opening_a_card_is_audited(helpdesk, helpdesk_user, fx_user):
    helpdesk.get(f"/helpdesk/users/{fx_user.pk}/")
    assert AuthEvent.objects.filter(kind=AuthEvent.Kind.USER_VIEWED, actor=helpdesk_user, subject=fx_user).exists()


def test_bank_staff_have_no_card(helpdesk, bank_admin):
    assert helpdesk.get(f"/helpdesk/users/{bank_admin.pk}/").status_code == 404


def lock(authenticator: Authenticator, settings) -> None:
    for _ in range(settings.JWEB_LOCK_AFTER_FAILURES):
        authenticator.record_failure()
    authenticator.refresh_from_db()
    assert authenticator.is_locked


def test_unlock_needs_a_reason_and_changes_nothing_without_one(helpdesk, fx_user, fx_totp, settings):
    lock(fx_totp.authenticator, settings)
    response = helpdesk.post(f"/helpdesk/users/{fx_user.pk}/unlock/", {"unlock-reason": " ok "})
    assert response.status_code == 400
    assert "at least 5 characters" in response.content.decode()
    fx_totp.authenticator.refresh_from_db()
    assert fx_totp.authenticator.is_locked
    assert not AuthEvent.objects.filter(kind=AuthEvent.Kind.UNLOCKED).exists()


def test_unlock_with_a_reason_unlocks_audits_and_tells_the_user(helpdesk, helpdesk_user, fx_user, fx_totp, settings):
    lock(fx_totp.authenticator, settings)
    mail.outbox.clear()
    reason = "本人から電話、生年月日で確認"
    response = helpdesk.post(f"/helpdesk/users/{fx_user.pk}/unlock/", {"unlock-reason": reason})
    assert response.status_code == 302
    fx_totp.authenticator.refresh_from_db()
    assert not fx_totp.authenticator.is_locked and fx_totp.authenticator.throttling_failure_count == 0
    event = AuthEvent.objects.get(kind=AuthEvent.Kind.UNLOCKED)
    assert (event.actor, event.subject, event.details["reason"], event.details["via"]) == (
        helpdesk_user,
        fx_user,
        reason,
        "helpdesk",
    )
    assert [message.to for message in mail.outbox] == [[fx_user.email]]


def test_the_cards_history_says_its_details_in_words(helpdesk, fx_user, fx_totp, settings):
    lock(fx_totp.authenticator, settings)
    helpdesk.post(f"/helpdesk/users/{fx_user.pk}/unlock/", {"unlock-reason": "本人確認のうえ解除"})
    page = helpdesk.get(f"/helpdesk/users/{fx_user.pk}/").content.decode()
    details = " | ".join(re.findall(r'<td class="details">([^<]*)</td>', page))
    assert "through: help desk" in details and "was locked: yes" in details
    assert "helpdesk" not in details and "True" not in details
    settings.LANGUAGE_CODE = "ja"
    page = helpdesk.get(f"/helpdesk/users/{fx_user.pk}/", HTTP_ACCEPT_LANGUAGE="ja").content.decode()
    assert "経由: ヘルプデスク" in " | ".join(re.findall(r'<td class="details">([^<]*)</td>', page))


def test_reset_needs_the_identity_check_and_changes_nothing_without_it(helpdesk, fx_user, fx_totp):
    response = helpdesk.post(f"/helpdesk/users/{fx_user.pk}/reset/", {"reset-reason": "スマートフォン紛失の連絡"})
    assert response.status_code == 400
    page = response.content.decode()
    assert "Choose how the caller" in page and "Confirm that you verified" in page
    assert Registration.objects.for_login(fx_user) == fx_totp


def test_reset_revokes_in_every_edition_ends_sessions_and_is_recorded(
    helpdesk, helpdesk_user, fx_user, fx_totp, domestic_user
):
    Registration.objects.create(user=domestic_user, authenticator=fx_totp.authenticator, origin="domestic_link")
    user_session = HttpsClient()
    log_in_with_totp(user_session, fx_user, fx_totp)
    assert user_session.get("/home/").status_code == 200
    mail.outbox.clear()
    response = helpdesk.post(
        f"/helpdesk/users/{fx_user.pk}/reset/",
        {"reset-reason": "スマートフォン紛失の連絡", "reset-identity_check": "callback", "reset-confirmed": "on"},
    )
    assert response.status_code == 302
    assert Registration.objects.for_login(fx_user) is None and Registration.objects.for_login(domestic_user) is None
    fx_totp.authenticator.refresh_from_db()
    assert fx_totp.authenticator.status == Authenticator.Status.REVOKED
    assert user_session.get("/home/").status_code == 302  # the old session is gone
    events = AuthEvent.objects.filter(kind=AuthEvent.Kind.RESET)
    assert {event.subject for event in events} == {fx_user, domestic_user}
    assert all(
        e.actor == helpdesk_user and e.details["identity_check"] == "callback" and e.details["via"] == "helpdesk"
        for e in events
    )
    assert sorted(message.to[0] for message in mail.outbox) == [fx_user.email, domestic_user.email]
    assert all(fx_totp.authenticator.totp_secret not in message.body for message in mail.outbox)


def test_after_a_reset_the_old_credential_logs_nobody_in(helpdesk, fx_user, fx_totp):
    helpdesk.post(
        f"/helpdesk/users/{fx_user.pk}/reset/",
        {"reset-reason": "紛失の連絡を受けた", "reset-identity_check": "branch", "reset-confirmed": "on"},
    )
    client = HttpsClient()
    log_in_with_totp(client, fx_user, fx_totp)  # password, then the old credential's current code
    assert client.get("/home/")["Location"] == "/enroll/"


def test_reset_of_a_user_without_factor_says_so(helpdesk, fx_user):
    response = helpdesk.post(
        f"/helpdesk/users/{fx_user.pk}/reset/",
        {"reset-reason": "紛失の連絡を受けた", "reset-identity_check": "branch", "reset-confirmed": "on"},
        follow=True,
    )
    assert "nothing to reset" in response.content.decode()
    assert not AuthEvent.objects.filter(kind=AuthEvent.Kind.RESET).exists()


def test_queue_lists_not_me_and_locks_until_settled(helpdesk, fx_user, fx_totp, domestic_user, settings):
    AuthEvent.objects.create(kind=AuthEvent.Kind.PUSH_NOT_ME, subject=domestic_user, edition=Edition.DOMESTIC)
    lock(fx_totp.authenticator, settings)
    AuthEvent.objects.create(kind=AuthEvent.Kind.LOCKED, subject=fx_user, edition=Edition.FX)
    queue = helpdesk.get("/helpdesk/").context["queue"]
    assert {(event.kind, event.subject) for event in queue} == {
        (AuthEvent.Kind.PUSH_NOT_ME, domestic_user),
        (AuthEvent.Kind.LOCKED, fx_user),
    }
    helpdesk.post(f"/helpdesk/users/{fx_user.pk}/unlock/", {"unlock-reason": "本人確認のうえ解除"})
    helpdesk.post(f"/helpdesk/users/{domestic_user.pk}/handled/", {"handled-reason": "本人に確認、誤操作"})
    assert helpdesk.get("/helpdesk/").context["queue"] == []


def test_old_cases_leave_the_queue(fx_user, frozen, settings):
    AuthEvent.objects.create(kind=AuthEvent.Kind.PUSH_NOT_ME, subject=fx_user, edition=Edition.FX)
    assert [event.subject for event in flows.queue()] == [fx_user]
    frozen.shift(timedelta(days=settings.JWEB_HELPDESK_QUEUE_DAYS, minutes=1))
    assert flows.queue() == []


def result_rows(response) -> list[str]:
    html = response.content.decode()
    body = html[html.index("<tbody>") + len("<tbody>") : html.index("</tbody>")]
    return [row for row in body.split("</tr>") if "<tr>" in row]


def test_a_result_row_links_the_card_and_shows_the_factor(helpdesk, fx_user, fx_totp):
    Authenticator.objects.filter(pk=fx_totp.authenticator.pk).update(locked_at=fx_totp.confirmed_at)
    (row,) = result_rows(helpdesk.get("/helpdesk/", {"q": "taro01"}))
    assert f'<a href="/helpdesk/users/{fx_user.pk}/">taro01</a>' in row
    assert fx_user.name in row and fx_user.customer.name in row and fx_user.contract.contract_number in row
    assert f'<span class="serial">{fx_totp.authenticator.serial}</span>' in row
    assert '<strong class="status-locked">locked</strong>' in row


def test_a_result_row_says_when_there_is_no_factor(helpdesk, fx_user):
    (row,) = result_rows(helpdesk.get("/helpdesk/", {"q": "taro01"}))
    assert '<span class="status-none">not registered</span>' in row
    assert "serial" not in row and "None" not in row


def test_a_result_row_escapes_what_customers_typed(helpdesk, fx_user):
    Customer.objects.filter(pk=fx_user.customer.pk).update(name='<script>alert("x")</script>陽商事')
    User.objects.filter(pk=fx_user.pk).update(name="<b>太郎</b>")
    (row,) = result_rows(helpdesk.get("/helpdesk/", {"q": "taro01"}))
    assert "<script>" not in row and "<b>" not in row
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;陽商事" in row and "&lt;b&gt;太郎&lt;/b&gt;" in row
