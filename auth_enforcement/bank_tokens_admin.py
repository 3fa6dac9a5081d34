"""Admin pages for bank-issued tokens: import the vendor's PSKC file, hand a token to a user."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from auth_enforcement import bank_tokens
from auth_enforcement.editions import Edition
from auth_enforcement.forms import CodeField

IMPORT_PERMISSION = "auth_enforcement.add_authenticator"
BIND_PERMISSION = "auth_enforcement.add_registration"


class PSKCImportForm(forms.Form):
    """The vendor's seed file and, if its seeds are encrypted, the key sent separately."""

    file = forms.FileField(label=_("PSKC file from the token vendor"))
    # Secrets: never rendered back into the page (PasswordInput) nor offered to autofill.
    key_hex = forms.CharField(
        label=_("Pre-shared key (hexadecimal)"),
        required=False,
        max_length=200,
        strip=True,
        widget=forms.PasswordInput(attrs={"autocomplete": "off"}),
        help_text=_("If the vendor sent a key, for example 32 hexadecimal characters for AES-128."),
    )
    passphrase = forms.CharField(
        label=_("Passphrase"),
        required=False,
        max_length=200,
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "off"}),
        help_text=_("If the vendor sent a passphrase instead of a key."),
    )

    def clean_file(self):
        upload = self.cleaned_data["file"]
        if upload.size > bank_tokens.MAX_FILE_BYTES:
            raise forms.ValidationError(_("The file is larger than 1 MB. Ask the vendor to split it."))
        return upload

    def clean(self):
        if self.cleaned_data.get("key_hex") and self.cleaned_data.get("passphrase"):
            raise forms.ValidationError(_("Enter either the pre-shared key or the passphrase, not both."))
        return self.cleaned_data


class BankTokenBindForm(forms.Form):
    """Who receives the token, its serial, and two consecutive codes the customer reads out."""

    edition = forms.ChoiceField(label=_("Edition"), choices=Edition.choices)
    login_id = forms.CharField(label=_("User ID"), max_length=64)
    serial = forms.CharField(label=_("Token serial"), max_length=40)
    first_code = CodeField(label=_("Code the token shows now"))
    second_code = CodeField(label=_("The next code (after it changes)"))

    def clean(self):
        edition, login_id = self.cleaned_data.get("edition"), self.cleaned_data.get("login_id")
        if edition and login_id:
            users = get_user_model().objects.filter(edition=edition)
            self.user = users.filter(login_id=get_user_model().normalize_login_id(login_id)).first()
            if self.user is None:
                self.add_error("login_id", _("No user has this user ID in this edition."))
        return self.cleaned_data


class BankTokenAdminMixin:
    """Add the import and hand-over pages to the authenticator admin."""

    def get_urls(self):
        name = f"{self.opts.app_label}_{self.opts.model_name}"
        # Before the ModelAdmin's own URLs: its "<object_id>/" pattern would catch these.
        return [
            path("import/", self.admin_site.admin_view(self.pskc_import_view), name=f"{name}_pskc_import"),
            path("bind/", self.admin_site.admin_view(self.bank_token_bind_view), name=f"{name}_bank_token_bind"),
            *super().get_urls(),
        ]

    def changelist_view(self, request: HttpRequest, extra_context=None):
        extra_context = {
            **(extra_context or {}),
            "can_import_tokens": request.user.has_perm(IMPORT_PERMISSION),
            "can_bind_tokens": request.user.has_perm(BIND_PERMISSION),
        }
        return super().changelist_view(request, extra_context)

    def pskc_import_view(self, request: HttpRequest) -> HttpResponse:
        """Import a vendor's PSKC file as tokens in stock (bank_admin only)."""
        if not request.user.has_perm(IMPORT_PERMISSION):
            raise PermissionDenied
        form = PSKCImportForm(request.POST or None, request.FILES or None)
        if request.method == "POST" and form.is_valid():
            try:
                tokens = bank_tokens.import_pskc(
                    request,
                    form.cleaned_data["file"],
                    key_hex=form.cleaned_data["key_hex"],
                    passphrase=form.cleaned_data["passphrase"],
                )
            except bank_tokens.PSKCImportError as refused:
                for message in refused.messages:
                    form.add_error(None, message)
                form.add_error(None, _("Nothing was imported."))
            else:
                count = len(tokens)
                messages.success(
                    request,
                    ngettext("%(count)d token imported into stock.", "%(count)d tokens imported into stock.", count)
                    % {"count": count},
                )
                return redirect(self._changelist_url())
        return self._render(request, "pskc_import.html", form, _("Import bank-issued tokens"))

    def bank_token_bind_view(self, request: HttpRequest) -> HttpResponse:
        """Hand a token in stock to a customer's user (bank_admin only)."""
        if not request.user.has_perm(BIND_PERMISSION):
            raise PermissionDenied
        form = BankTokenBindForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            data = form.cleaned_data
            try:
                registration = bank_tokens.bind_bank_token(
                    request, form.user, data["serial"], data["first_code"], data["second_code"]
                )
            except bank_tokens.BankTokenError as refused:
                form.add_error(None, str(refused))
            else:
                messages.success(
                    request,
                    _("Token %(serial)s is now the second factor of %(user)s.")
                    % {"serial": registration.authenticator.serial, "user": form.user.login_id},
                )
                return redirect(self._changelist_url())
        return self._render(request, "bank_token_bind.html", form, _("Hand a bank-issued token to a user"))

    def _changelist_url(self) -> str:
        return f"admin:{self.opts.app_label}_{self.opts.model_name}_changelist"

    def _render(self, request: HttpRequest, template: str, form: forms.Form, title) -> TemplateResponse:
        context = {**self.admin_site.each_context(request), "opts": self.opts, "form": form, "title": title}
        return TemplateResponse(request, f"admin/{self.opts.app_label}/{self.opts.model_name}/{template}", context)
