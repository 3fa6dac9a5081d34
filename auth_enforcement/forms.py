"""Login and enrollment forms: password at one entrance, one-time passwords."""

from __future__ import annotations

import unicodedata

from django import forms
from django.contrib.auth import authenticate
from django.contrib.auth.forms import AuthenticationForm
from django.utils.translation import gettext_lazy as _
from two_factor.forms import AuthenticationTokenForm

from auth_enforcement import flows, push
from auth_enforcement.models import TOTP_DIGITS


class EntranceLoginForm(AuthenticationForm):
    """User ID and password, checked against the users of one entrance only."""

    username = forms.CharField(
        label=_("User ID"),
        max_length=64,
        widget=forms.TextInput(
            attrs={"autofocus": True, "autocomplete": "username", "autocapitalize": "none", "spellcheck": "false"}
        ),
    )
    # A bound on the length keeps a 10 KB "password" from costing a hash of 10 KB.
    password = forms.CharField(
        label=_("Password"),
        max_length=128,
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
    )

    _NOT_CORRECT = _(
        "The user ID or password is not correct. Check that this is the login page of your "
        "edition (FX or domestic), and that Caps Lock is off."
    )
    error_messages = {
        # One answer for an unknown ID, a wrong password and an inactive or suspended
        # account, so that nobody can learn which IDs exist (ASVS 5.0 6.3.8).
        "invalid_login": _NOT_CORRECT,
        "inactive": _NOT_CORRECT,
    }

    def __init__(self, request=None, *args, entrance: str, **kwargs) -> None:
        super().__init__(request, *args, **kwargs)
        self.entrance = entrance

    def clean(self):
        login_id = self.cleaned_data.get("username")
        password = self.cleaned_data.get("password")
        if login_id is not None and password:
            self.user_cache = authenticate(self.request, login_id=login_id, password=password, entrance=self.entrance)
            if self.user_cache is None:
                raise self.get_invalid_login_error()
            self.confirm_login_allowed(self.user_cache)
        return self.cleaned_data


def normalize_code(raw: str) -> str:
    """Fold full-width digits (０–９, as Japanese IMEs type them) to ASCII; trim the ends."""
    return unicodedata.normalize("NFKC", raw or "").strip()


class OneTimeInput(forms.TextInput):
    """A text box that never shows a typed code again (a refused code is retyped, not echoed)."""

    def format_value(self, value):
        return None


class CodeField(forms.CharField):
    """A 6-digit one-time password, typed in half- or full-width digits."""

    default_error_messages = {
        "invalid": _("Enter the 6-digit number your one-time password generator shows, digits only."),
        "required": _("Enter the 6-digit one-time password."),
    }

    def __init__(self, **kwargs) -> None:
        kwargs.setdefault("max_length", 32)  # longer input is refused before any work
        kwargs.setdefault("widget", OneTimeInput)
        super().__init__(**kwargs)
        self.widget.attrs.update(
            {"autocomplete": "one-time-code", "inputmode": "numeric", "pattern": "[0-9０-９]*", "size": "8"}
        )

    def to_python(self, value):
        return normalize_code(super().to_python(value))

    def validate(self, value) -> None:
        super().validate(value)
        if not value and not self.required:
            return
        if len(value) != TOTP_DIGITS or not value.isascii() or not value.isdigit():
            raise forms.ValidationError(self.error_messages["invalid"], code="invalid")


class TOTPTokenForm(AuthenticationTokenForm):
    """The login's second step for TOTP: the code, checked once against the locked credential."""

    otp_token = CodeField(label=_("One-time password"))
    otp_error_messages = {
        **AuthenticationTokenForm.otp_error_messages,
        "invalid_token": _(
            "The one-time password is not correct. Each number can be used only once: if you have just used "
            "this one, wait until your generator shows the next number."
        ),
        # django-otp's wait after a wrong code (1 s, then twice as long each time): one slip
        # already triggers it, so the words must not say "too many".
        "n_failed_attempts": _(
            "After a wrong one-time password, the next try must wait a little (longer after each wrong one). "
            "Please try again in a few seconds."
        ),
    }

    def __init__(self, user, initial_device, request=None, **kwargs) -> None:
        super().__init__(user, initial_device, **kwargs)
        self.request = request
        self.fields["otp_token"].widget.attrs["autofocus"] = "autofocus"

    def clean(self):
        if "otp_token" not in self.cleaned_data:
            return self.cleaned_data  # malformed input: the field's message, nothing verified
        registration = self.initial_device
        was_locked = registration.authenticator.is_locked
        try:
            super().clean()
        except forms.ValidationError:
            newly_locked = not was_locked and registration.authenticator.is_locked
            flows.record_factor_result(self.request, self.user, registration, False, newly_locked)
            raise
        flows.record_factor_result(self.request, self.user, registration, True)
        return self.cleaned_data


class PushTokenForm(TOTPTokenForm):
    """The login's second step for push: nothing to type; the approval of this attempt counts."""

    otp_token = forms.CharField(required=False, widget=forms.HiddenInput)
    otp_error_messages = {
        **TOTPTokenForm.otp_error_messages,
        "token_required": _("The login has not been approved on your smartphone yet."),
        "invalid_token": _("The login has not been approved on your smartphone yet."),
    }

    def clean(self):
        # The approval is bound to this browser's session, never to anything the browser sends.
        state = self.request.session.get(push.PUSH_LOGIN) or {}
        self.cleaned_data["otp_token"] = state.get("attempt", "") if state.get("user") == self.user.pk else ""
        return super().clean()


class TOTPEnrollmentForm(forms.Form):
    """Two consecutive codes from the new generator: the one shown, then the next one."""

    first_code = CodeField(label=_("One-time password now shown"))
    second_code = CodeField(label=_("The next one-time password (after it changes)"))


class CurrentCodeForm(forms.Form):
    """The current generator's code, to re-prove the factor before switching methods."""

    code = CodeField(label=_("One-time password"))


class StartOfUseForm(forms.Form):
    """Start of use in the FX edition with the domestic edition's credential."""

    METHODS = [("totp", _("One-time password generator")), ("push", _("Smartphone app (one-push)"))]

    method = forms.ChoiceField(
        label=_("The credential you use in the domestic edition"),
        choices=METHODS,
        widget=forms.RadioSelect,
        initial="totp",
    )
    identifier = forms.CharField(
        label=_("Your domestic-edition user ID, or the serial number of the credential"), max_length=40
    )
    first_code = CodeField(
        label=_("One-time password now shown"),
        required=False,
        help_text=_(
            "For a one-time password generator: enter the number it shows now, wait until it changes, then "
            "enter the next one. For the smartphone app, leave these empty: the app will ask you to approve."
        ),
    )
    second_code = CodeField(label=_("The next one-time password (after it changes)"), required=False)

    def clean(self):
        data = super().clean()
        if data.get("method") == "totp":
            for name in ("first_code", "second_code"):
                if not data.get(name) and name not in self.errors:
                    self.add_error(name, CodeField.default_error_messages["required"])
        return data


class ReasonForm(forms.Form):
    """Why bank staff or a service manager unlock or reset a factor: recorded in the audit trail."""

    # ASVS 5.0 6.4.4: a reset needs a recorded reason; a word like "ok" records nothing.
    reason = forms.CharField(
        label=_("Reason (recorded in the audit trail)"),
        min_length=5,
        max_length=500,
        widget=forms.Textarea(attrs={"rows": 2}),
        error_messages={
            "required": _("Enter the reason; it is recorded in the audit trail."),
            "min_length": _("Describe the reason in at least 5 characters."),
        },
    )

    def clean_reason(self) -> str:
        # Measured again as recorded: NFKC may shorten ("e\u0301" composes) or lengthen (U+FDFA).
        reason = unicodedata.normalize("NFKC", self.cleaned_data["reason"]).strip()
        if len(reason) < 5:
            raise forms.ValidationError(self.fields["reason"].error_messages["min_length"], code="min_length")
        if len(reason) > 500:
            raise forms.ValidationError(_("Keep the reason within 500 characters."), code="max_length")
        # Control and invisible format characters (zero-width, bidi overrides) would make the
        # audit line read differently from what was typed.
        if any(unicodedata.category(char) in ("Cc", "Cf") for char in reason.replace("\n", "").replace("\r", "")):
            raise forms.ValidationError(_("The reason contains control characters."), code="control")
        return reason
