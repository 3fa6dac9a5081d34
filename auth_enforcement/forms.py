"""Login forms: the first step (user ID and password) at one entrance."""

from __future__ import annotations

from django import forms
from django.contrib.auth import authenticate
from django.contrib.auth.forms import AuthenticationForm
from django.utils.translation import gettext_lazy as _


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
        "The user ID or password is not correct. Check that you are at the entrance of your "
        "edition, and that Caps Lock is off."
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
