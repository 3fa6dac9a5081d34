"""Every form answers any text with valid or not, in words; the pages that take text never fail."""

from __future__ import annotations

import unicodedata
from collections.abc import Callable
from dataclasses import dataclass

import pytest
from django import forms
from django.test import RequestFactory
from hypothesis import example, given
from hypothesis import strategies as st

from auth_enforcement.bank_tokens_admin import BankTokenBindForm, PSKCImportForm
from auth_enforcement.forms import (
    CurrentCodeForm,
    EntranceLoginForm,
    PushTokenForm,
    ReasonForm,
    StartOfUseForm,
    TOTPEnrollmentForm,
    TOTPTokenForm,
)
from auth_enforcement.models import Authenticator, AuthEvent, Registration, new_serial
from jweboffice.helpdesk.flows import MAX_QUERY
from jweboffice.helpdesk.forms import ResetForm, SearchForm
from tests.conftest import log_in
from tests.properties import AWKWARD, bounded, hostile_text


@pytest.fixture(autouse=True)
def fast_password_hashing(settings) -> None:
    # Argon2 costs 0.4 s a hash and these tests check many passwords; the hash is not their subject.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher", *settings.PASSWORD_HASHERS]


@dataclass
class World:
    """A customer user with TOTP, one with push, and the request a login form is bound to."""

    totp_user: object
    totp: Registration
    push_user: object
    push: Registration
    request: object


@pytest.fixture
def world(fx_user, fx_totp, domestic_user) -> World:
    push = Registration.objects.create(
        user=domestic_user,
        authenticator=Authenticator.objects.create(
            kind=Authenticator.Kind.PUSH,
            serial=new_serial("JWP"),
            customer=domestic_user.customer,
            status=Authenticator.Status.ACTIVE,
        ),
    )
    request = RequestFactory().post("/fx/login/")
    request.session = {}  # the push form reads this session's approval (there is none)
    return World(fx_user, fx_totp, domestic_user, push, request)


# How each view builds its form; the data comes from the test.
FORMS: dict[str, Callable[[World, dict], forms.Form]] = {
    "EntranceLoginForm": lambda w, data: EntranceLoginForm(w.request, data=data, entrance="fx"),
    "TOTPTokenForm": lambda w, data: TOTPTokenForm(w.totp_user, w.totp, request=w.request, data=data),
    "PushTokenForm": lambda w, data: PushTokenForm(w.push_user, w.push, request=w.request, data=data),
    "TOTPEnrollmentForm": lambda w, data: TOTPEnrollmentForm(data),
    "CurrentCodeForm": lambda w, data: CurrentCodeForm(data),
    "StartOfUseForm": lambda w, data: StartOfUseForm(data),
    "ReasonForm": lambda w, data: ReasonForm(data, prefix="unlock"),
    "SearchForm": lambda w, data: SearchForm(data),
    "ResetForm": lambda w, data: ResetForm(data, prefix="reset"),
    # The bank-token admin's forms (auth_enforcement/bank_tokens_admin.py) take typed text too.
    "BankTokenBindForm": lambda w, data: BankTokenBindForm(data),
    "PSKCImportForm": lambda w, data: PSKCImportForm(data),
}


def likely_values(form: forms.Form) -> st.SearchStrategy[str]:
    """Hostile text, or a value the form's fields would take (a choice, a flag, a number)."""
    known = ["on", "true", "false", "0", "1", "-1", "10000", "10001", "1e3", "taro01", "fx", "domestic", "123456"]
    for field in form.fields.values():
        known += [str(value) for value, _ in getattr(field, "choices", [])]
    return st.one_of(hostile_text, st.sampled_from(known))


@pytest.mark.parametrize("name", list(FORMS))
def test_every_form_answers_any_text_in_any_of_its_fields_with_true_or_false(world, name):
    build = FORMS[name]
    empty = build(world, None)
    names = [empty.add_prefix(field) for field in empty.fields] + ["unknown", "otp_device", "otp_challenge"]

    @bounded(60)
    @given(data=st.dictionaries(st.sampled_from(names), likely_values(empty), max_size=len(names)))
    def check(data: dict[str, str]) -> None:
        form = build(world, data)
        valid = form.is_valid()
        assert valid is True or valid is False
        assert valid or form.errors

    check()


# -- the reason staff record, and the help desk's search box --------------------------------


def reason_is_valid(text: str) -> bool:
    """The rule ReasonForm applies, step by step as the code does.

    Django strips the text and measures it there (5 to 500 characters, no NUL); clean_reason
    then folds it with NFKC, measures the recorded text again (5 to 500) and refuses control
    and format characters other than line breaks.
    """
    stripped = text.strip()
    if not 5 <= len(stripped) <= 500 or "\x00" in stripped:
        return False
    recorded = unicodedata.normalize("NFKC", stripped).strip()
    if not 5 <= len(recorded) <= 500:
        return False
    visible = recorded.replace("\n", "").replace("\r", "")
    return not any(unicodedata.category(char) in ("Cc", "Cf") for char in visible)


reasons = st.one_of(
    hostile_text,
    st.text(min_size=3, max_size=7),  # around the lower bound
    st.text(alphabet=AWKWARD, min_size=3, max_size=9),
    st.builds(lambda pad, text: pad + text + pad, st.sampled_from(["", " ", "\u3000", "\n"]), st.text(min_size=495)),
    st.builds(lambda body: body + "\n", st.text(alphabet="reset by call\n\r\t", min_size=495, max_size=505)),
)


@bounded(400)
@given(text=reasons)
@example(text="e\u0301e\u0301e")  # refused: 5 characters as typed, 3 as recorded
@example(text="\ufdfa" * 500)  # refused: 500 characters as typed, 9,000 as recorded
@example(text="called\tback")  # a tab is a control character
@example(text="called back\r\nconfirmed")  # line breaks are not
@example(text="ok\u200b\u200b\u200b")  # refused: zero-width spaces are invisible format characters
def test_reason_is_valid_iff_its_stripped_text_has_5_to_500_characters_and_no_control_character(text):
    form = ReasonForm({"reason": text})
    assert form.is_valid() is reason_is_valid(text)
    if form.is_valid():
        assert form.cleaned_data["reason"] == unicodedata.normalize("NFKC", text.strip()).strip()


queries = st.one_of(
    hostile_text,
    st.builds(
        lambda pad, text: pad + text + pad, st.sampled_from(["", " ", "\u3000"]), st.text(min_size=60, max_size=70)
    ),
)


@bounded(300)
@given(q=queries)
def test_search_box_takes_any_text_of_up_to_64_characters_and_refuses_longer(q):
    """ "Any text" within Django's rules: stripped first, and no NUL (every CharField refuses one)."""
    stripped = q.strip()
    assert SearchForm({"q": q}).is_valid() is (len(stripped) <= MAX_QUERY and "\x00" not in stripped)


# -- through HTTP ---------------------------------------------------------------------------


def test_help_desk_search_answers_any_query_with_the_page(helpdesk, fx_user, fx_totp, domestic_user):
    words = [
        "taro01",
        "ＴＡＲＯ０１",
        "F-0012345-01",
        fx_totp.authenticator.serial.lower(),
        "陽商",
        "しようじ",
        "%",
        "_",
    ]

    @bounded(100)
    @given(
        q=st.one_of(hostile_text, st.sampled_from(words)),
        page=st.one_of(st.none(), st.sampled_from(["1", "2", "0", "10000", "10001", "-1"]), hostile_text),
    )
    def check(q: str, page: str | None) -> None:
        response = helpdesk.get("/helpdesk/", {"q": q} if page is None else {"q": q, "page": page})
        assert response.status_code == 200

    check()


def test_password_step_answers_any_credentials_with_the_form_and_one_audit_row_at_most(client, fx_user):
    audit_rows = set()

    @bounded(100)
    @given(
        login_id=st.one_of(hostile_text, st.sampled_from(["taro01", "ＴＡＲＯ０１", " taro01 ", "TARO01"])),
        password=hostile_text,
    )
    def check(login_id: str, password: str) -> None:
        before = AuthEvent.objects.count()
        response = log_in(client, "fx", login_id, password)
        assert response.status_code == 200
        assert "_auth_user_id" not in client.session
        rows = AuthEvent.objects.count() - before
        assert rows <= 1
        audit_rows.add(rows)

    check()
    assert audit_rows == {0, 1}  # refused by the form, and refused by the password check
