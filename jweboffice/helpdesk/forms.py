"""The help desk's forms: one search box, and the identity check a reset needs."""

from __future__ import annotations

from django import forms
from django.db import models
from django.utils.translation import gettext_lazy as _

from auth_enforcement.forms import ReasonForm
from jweboffice.helpdesk.flows import MAX_QUERY, MAX_TRAIL

BAD_PAGE_LINK = _("This page link is not valid. Search again.")
MAX_ID = 2**63 - 1


class SearchForm(forms.Form):
    q = forms.CharField(
        label=_("User ID, contract number, company name or kana, or serial"),
        max_length=MAX_QUERY,
        required=False,
        widget=forms.TextInput(attrs={"type": "search", "autocomplete": "off", "spellcheck": "false"}),
    )
    page = forms.IntegerField(
        min_value=1,
        max_value=10_000,
        required=False,
        error_messages=dict.fromkeys(["invalid", "min_value", "max_value"], BAD_PAGE_LINK),
    )
    # Where the pages before this one ended (user ids), written by the Next links.
    after = forms.CharField(
        required=False,
        max_length=MAX_TRAIL * 21,
        error_messages=dict.fromkeys(["max_length", "null_characters_not_allowed"], BAD_PAGE_LINK),
    )

    def clean_after(self) -> tuple[int, ...]:
        text = self.cleaned_data["after"]
        if not text:
            return ()
        parts = text.split(",")
        # Ids of users: ASCII digits, none beyond a bigint (the database would refuse the number).
        if len(parts) > MAX_TRAIL or not all(
            part.isascii() and part.isdigit() and int(part) <= MAX_ID for part in parts
        ):
            raise forms.ValidationError(BAD_PAGE_LINK, code="invalid")
        return tuple(int(part) for part in parts)


class ResetForm(ReasonForm):
    """A reset for a lost device: only after the caller was confirmed to be the user (ASVS 5.0 6.4.6)."""

    class IdentityCheck(models.TextChoices):
        CALLBACK = "callback", _("Called back on the telephone number registered for the contract")
        BRANCH = "branch", _("At the branch, with an identity document")
        MANAGER = "manager", _("Confirmed with the contract's service manager")

    identity_check = forms.ChoiceField(
        label=_("How the caller's identity was verified"),
        choices=IdentityCheck.choices,
        widget=forms.RadioSelect,
        error_messages={"required": _("Choose how the caller's identity was verified.")},
    )
    confirmed = forms.BooleanField(
        label=_("I confirmed the caller is this user; the authenticator is revoked in every edition."),
        error_messages={"required": _("Confirm that you verified the caller's identity.")},
    )
