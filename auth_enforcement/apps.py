from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AuthEnforcementConfig(AppConfig):
    name = "auth_enforcement"
    verbose_name = _("Second factor")

    def ready(self) -> None:
        from auth_enforcement import audit, methods

        methods.register_methods()
        audit.connect()
