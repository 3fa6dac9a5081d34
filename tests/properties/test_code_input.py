"""Typed one-time passwords: folded by NFKC, refused in words, never an exception, never a spent step."""

from __future__ import annotations

import re
import unicodedata

import pyotp
import pytest
from django.test import RequestFactory
from django.utils import timezone
from django_otp import DEVICE_ID_SESSION_KEY
from hypothesis import example, given
from hypothesis import strategies as st

from auth_enforcement.forms import CurrentCodeForm, TOTPEnrollmentForm, TOTPTokenForm
from auth_enforcement.models import TOTP_VALID_WINDOW, Authenticator, Registration
from tests.conftest import HttpsClient, log_in, submit_code, totp_code
from tests.properties import bounded, hostile_text

# Ten digits in each way a keyboard, an IME or a copy from a web page may type them.
FOLDED_DIGITS = [
    "0123456789",
    "".join(chr(0xFF10 + d) for d in range(10)),  # full width, as Japanese IMEs type them
    "".join(chr(0x1D7CE + d) for d in range(10)),  # mathematical bold
    "".join(chr(0x1D7D8 + d) for d in range(10)),  # mathematical double-struck
    "⁰¹²³⁴⁵⁶⁷⁸⁹",  # superscript
    "⓪①②③④⑤⑥⑦⑧⑨",  # circled
]
# Digits NFKC keeps as they are: a code typed in them is not the code.
LOOKALIKE_DIGITS = [
    "".join(chr(0x0660 + d) for d in range(10)),  # Arabic-Indic
    "".join(chr(0x0966 + d) for d in range(10)),  # Devanagari
]
# What Django's strip() and ours take off the ends (\x1c-\x1f are whitespace to Python).
SPACES = st.text(alphabet=" \t\n\r\x0b\x0c\x1c\x1f\u3000\u00a0\u2003\u205f", max_size=4)


def expected_code(typed: str) -> str:
    """What the form compares: Django's strip, then NFKC and strip again (normalize_code)."""
    return unicodedata.normalize("NFKC", typed.strip()).strip()


def folded(code: str, forms: list[str] = FOLDED_DIGITS) -> st.SearchStrategy[str]:
    """The code typed with each digit in any of `forms`, between any spaces."""
    digits = st.lists(st.sampled_from(forms), min_size=len(code), max_size=len(code))
    return st.builds(
        lambda before, chosen, after: (
            before + "".join(form[int(d)] for form, d in zip(chosen, code, strict=True)) + after
        ),
        SPACES,
        digits,
        SPACES,
    )


def near_miss(code: str) -> st.SearchStrategy[str]:
    """The code with one lookalike digit, a space or mark inside, a digit missing or one too many."""
    position = st.integers(0, len(code) - 1)
    return st.one_of(
        st.builds(
            lambda i, form, text: text[:i] + form[int(code[i])] + text[i + 1 :],
            position,
            st.sampled_from(LOOKALIKE_DIGITS),
            folded(code),
        ),
        st.builds(
            lambda i, mark: code[:i] + mark + code[i:],
            st.integers(1, len(code) - 1),
            st.sampled_from([" ", "\u3000", "-", "\u200b", "\u200f", "\ufeff", "\x00", "\u0301"]),
        ),
        st.just(code[:-1]),
        st.builds(lambda d: code + d, st.sampled_from("0１𝟘")),
    )


def typed_codes(codes_by_offset: dict[int, str]) -> st.SearchStrategy[str]:
    """Anything, a code of the valid window typed in folding digits, or a near miss of it or of an older one."""
    valid = [code for offset, code in codes_by_offset.items() if abs(offset) <= TOTP_VALID_WINDOW]
    return st.one_of(
        hostile_text,
        st.sampled_from(valid).flatmap(folded),
        st.sampled_from(list(codes_by_offset.values())).flatmap(near_miss),
        st.sampled_from(list(codes_by_offset.values())).flatmap(folded),  # some outside the window
    )


def window(authenticator: Authenticator) -> tuple[int, dict[int, str], dict[str, int]]:
    """The current step, the codes from 3 steps before to 3 after, and the step each valid code names."""
    now = authenticator.current_step()
    codes = {offset: totp_code(authenticator, offset) for offset in range(-3, 4)}
    steps: dict[str, int] = {}
    for offset in range(-TOTP_VALID_WINDOW, TOTP_VALID_WINDOW + 1):
        steps.setdefault(codes[offset], now + offset)  # the form accepts the earliest step a code names
    return now, codes, steps


@pytest.fixture(autouse=True)
def fast_password_hashing(settings) -> None:
    # Argon2 costs 0.4 s a hash and these tests log in many times; the hash is not their subject.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher", *settings.PASSWORD_HASHERS]


@pytest.fixture
def no_lock(settings) -> None:
    """Let wrong codes pile up without a lock or a delay (the failure count may still grow)."""
    settings.JWEB_LOCK_AFTER_FAILURES = 1_000_000
    settings.JWEB_THROTTLE_FACTOR = 0


def test_token_form_accepts_exactly_a_code_of_the_window_after_folding(fx_user, fx_totp, frozen, no_lock):
    authenticator = fx_totp.authenticator
    now, codes, steps = window(authenticator)
    used = now - TOTP_VALID_WINDOW - 1  # an earlier login used the step just before the window
    outcomes = set()

    @bounded(200)
    @given(typed=typed_codes(codes))
    def check(typed: str) -> None:
        Authenticator.objects.filter(pk=authenticator.pk).update(last_step=used)
        registration = Registration.objects.for_login(fx_user)
        request = RequestFactory().post("/fx/login/")
        form = TOTPTokenForm(fx_user, registration, request=request, data={"otp_token": typed})
        accepted = form.is_valid()
        right_step = steps.get(expected_code(typed))
        assert accepted is (right_step is not None)
        last_step = Authenticator.objects.get(pk=authenticator.pk).last_step
        if accepted:
            assert last_step == right_step
        else:
            assert form.errors and last_step == used  # refused in words, and the step is not spent
        outcomes.add(accepted)

    check()
    assert outcomes == {True, False}


@pytest.mark.parametrize("form_class", [TOTPEnrollmentForm, CurrentCodeForm])
def test_code_forms_take_six_folded_digits_and_refuse_everything_else(form_class):
    names = list(form_class.base_fields)
    some_code = "".join(str(n % 10) for n in range(3, 9))

    @bounded(150)
    @given(
        values=st.lists(
            st.one_of(hostile_text, folded(some_code), near_miss(some_code)), min_size=len(names), max_size=len(names)
        )
    )
    def check(values: list[str]) -> None:
        data = dict(zip(names, values, strict=True))
        form = form_class(data)
        well_formed = [
            len(code := expected_code(data[name])) == 6 and code.isascii() and code.isdigit() for name in names
        ]
        assert form.is_valid() is all(well_formed)
        for name, ok in zip(names, well_formed, strict=True):
            if ok:
                assert form.cleaned_data[name] == expected_code(data[name])
            else:
                assert form.errors[name]

    check()


def test_enrollment_registers_only_two_consecutive_codes_of_the_new_key(client, fx_user, frozen):
    browsers = [client]

    def start() -> pyotp.TOTP:
        """Log in with the password and open the enrollment page; return the key it shows."""
        log_in(browsers[-1], "fx", "taro01")
        page = browsers[-1].get("/enroll/totp/").content.decode()
        key = re.search(r'<code id="totp-key" class="key">([A-Z2-7 ]+)</code>', page).group(1).replace(" ", "")
        return pyotp.TOTP(key)

    totp = [start()]
    outcomes = set()

    @bounded(60)
    @given(data=st.data())
    def check(data) -> None:
        generator = totp[-1]
        step = generator.timecode(timezone.now())
        code = {offset: generator.generate_otp(step + offset) for offset in range(-3, 4)}
        right_pairs = {(code[s - 1], code[s]) for s in range(-1, 2)}
        how = data.draw(st.sampled_from(["consecutive", "anything"]), label="how")
        if how == "consecutive":
            second = data.draw(st.integers(-2, 3), label="second code's offset")
            first = data.draw(st.sampled_from([second - 1, second - 1, second, second - 2]), label="first's offset")
            first_typed = data.draw(folded(code[max(-3, min(3, first))]), label="first code")
            second_typed = data.draw(folded(code[min(3, second)]), label="second code")
        else:
            first_typed = data.draw(st.one_of(hostile_text, folded(code[0])), label="first code")
            second_typed = data.draw(st.one_of(hostile_text, folded(code[1])), label="second code")
        before = Registration.objects.filter(user=fx_user).count()
        response = browsers[-1].post("/enroll/totp/", {"first_code": first_typed, "second_code": second_typed})
        registered = (expected_code(first_typed), expected_code(second_typed)) in right_pairs
        assert response.status_code == (302 if registered else 200)
        assert Registration.objects.filter(user=fx_user).count() == before + registered
        outcomes.add(registered)
        if registered:  # start again: the user loses the new registration, a new browser enrolls anew
            Registration.objects.filter(user=fx_user).delete()
            browsers.append(HttpsClient())
            totp.append(start())

    check()
    assert outcomes == {True, False}


def test_any_text_at_the_login_token_step_is_answered_and_only_the_code_verifies(
    client, fx_user, fx_totp, frozen, no_lock
):
    authenticator = fx_totp.authenticator
    now, codes, steps = window(authenticator)
    used = now - TOTP_VALID_WINDOW - 1
    browsers = [client]
    log_in(client, "fx", "taro01")
    outcomes = set()

    @bounded(150)
    @given(typed=typed_codes(codes))
    @example(typed="\x00" + codes[0])
    @example(typed="\u202e" + "".join(chr(0xFF10 + int(d)) for d in codes[0]) + "\u202c")
    @example(typed=codes[0] * 1_666)  # about 10,000 characters
    def check(typed: str) -> None:
        Authenticator.objects.filter(pk=authenticator.pk).update(last_step=used)
        response = submit_code(browsers[-1], "fx", typed)
        assert response.status_code in (200, 302)
        right_step = steps.get(expected_code(typed))
        verified = DEVICE_ID_SESSION_KEY in browsers[-1].session
        last_step = Authenticator.objects.get(pk=authenticator.pk).last_step
        if right_step is None:
            assert response.status_code == 200 and not verified and last_step == used
        else:
            assert response.status_code == 302 and verified and last_step == right_step
            browsers.append(HttpsClient())  # the next attempt is another login
            log_in(browsers[-1], "fx", "taro01")
        outcomes.add(right_step is not None)

    check()
    assert outcomes == {True, False}
