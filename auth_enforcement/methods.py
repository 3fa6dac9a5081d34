"""The second-factor methods as django-two-factor-auth's login wizard sees them."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _
from two_factor.plugins.registry import MethodBase, registry

from auth_enforcement.models import Authenticator, Registration


class TOTPMethod(MethodBase):
    """A TOTP generator bound through a Registration (encrypted seed, shared replay state)."""

    code = "jweb_totp"
    verbose_name = _("One-time password")

    def get_devices(self, user):
        return Registration.objects.active().filter(user=user, authenticator__kind=Authenticator.Kind.TOTP)

    def recognize_device(self, device) -> bool:
        return isinstance(device, Registration) and device.authenticator.kind == Authenticator.Kind.TOTP

    def get_token_form_class(self):
        from auth_enforcement.forms import TOTPTokenForm

        return TOTPTokenForm

    def get_action(self, device):
        return _("Enter the one-time password from your generator")

    def get_verbose_action(self, device):
        return _("Enter the 6-digit one-time password your generator shows now.")


class PushMethod(MethodBase):
    """One-push approval on a smartphone (privacyIDEA PUSH v1), bound through a Registration."""

    code = "jweb_push"
    verbose_name = _("One-push authentication")

    def get_devices(self, user):
        return Registration.objects.active().filter(user=user, authenticator__kind=Authenticator.Kind.PUSH)

    def recognize_device(self, device) -> bool:
        return isinstance(device, Registration) and device.authenticator.kind == Authenticator.Kind.PUSH

    def get_token_form_class(self):
        from auth_enforcement.forms import PushTokenForm

        return PushTokenForm

    def get_action(self, device):
        return _("Approve the login on your smartphone")

    def get_verbose_action(self, device):
        return _("Open the app on your smartphone and approve the login.")


def register_methods() -> None:
    """Offer our methods only: django-otp's TOTPDevice keeps its seed in plain text."""
    registry.unregister("generator")
    registry.register(TOTPMethod())
    registry.register(PushMethod())
