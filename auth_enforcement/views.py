"""Sign-in and sign-out at the entrances of the portal."""

from __future__ import annotations

from django.contrib.auth import logout
from django.contrib.auth.decorators import login_not_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, resolve_url
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_POST
from two_factor.forms import AuthenticationTokenForm, BackupTokenForm
from two_factor.views import LoginView

from auth_enforcement.forms import EntranceLoginForm
from jweboffice.contracts.models import BANK_ENTRANCE, Edition

ENTRANCE_TITLES = {
    Edition.FX: _("JWEBOFFICE FX edition — login"),
    Edition.DOMESTIC: _("JWEBOFFICE (domestic edition) — login"),
    BANK_ENTRANCE: _("Bank staff — login"),
}


def entrance_login_url(entrance: str) -> str:
    """Return the login page of an entrance."""
    return resolve_url(f"auth_enforcement:login-{entrance}")


class EntranceLoginView(LoginView):
    """django-two-factor-auth's login wizard, bound to the users of one entrance."""

    entrance: str = Edition.FX
    template_name = "auth_enforcement/login.html"
    form_list = (
        (LoginView.AUTH_STEP, EntranceLoginForm),
        (LoginView.TOKEN_STEP, AuthenticationTokenForm),
        (LoginView.BACKUP_STEP, BackupTokenForm),
    )

    def get_form_kwargs(self, step=None):
        kwargs = super().get_form_kwargs(step)
        if step == self.AUTH_STEP:
            kwargs["entrance"] = self.entrance
        return kwargs

    def get_success_url(self) -> str:
        default = "admin:index" if self.entrance == BANK_ENTRANCE else "portal:home"
        return self.get_redirect_url() or resolve_url(default)

    def get_context_data(self, form, **kwargs):
        context = super().get_context_data(form, **kwargs)
        context["entrance"] = self.entrance
        context["entrance_title"] = ENTRANCE_TITLES[self.entrance]
        return context


@require_POST
def logout_view(request: HttpRequest) -> HttpResponse:
    """End the session on the server and go back to the user's entrance."""
    entrance = getattr(request.user, "entrance", None)
    logout(request)
    return redirect(entrance_login_url(entrance) if entrance else "portal:entrance")


# Logging out must work with an expired or half-finished session too.
logout_view = login_not_required(logout_view)
