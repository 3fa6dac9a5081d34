from django.apps import AppConfig
from django.conf import settings
from django.utils.translation import gettext_lazy as _


class ContractsConfig(AppConfig):
    name = "jweboffice.contracts"
    label = "contracts"
    verbose_name = _("Customers and contracts")

    def ready(self) -> None:
        from django.db.models.signals import post_migrate

        from jweboffice.contracts.hashers import keep_hash_memory
        from jweboffice.contracts.roles import sync_staff_groups

        keep_hash_memory(settings.JWEB_ARGON2_MEMORY_KIB)

        # After every app's migrate, not only ours: auth_enforcement's permissions are created
        # by its own post_migrate, which comes after ours.
        post_migrate.connect(sync_staff_groups, dispatch_uid="jweb_sync_staff_groups")
