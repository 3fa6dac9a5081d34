"""The bank staff groups and what each may do in the admin."""

from django.contrib.auth.models import Group, Permission

BANK_ADMIN = "bank_admin"
HELPDESK = "helpdesk"

# bank_admin manages customers, contracts, users and mandates; the help desk only looks.
_APPS = ("contracts", "auth_enforcement")


def sync_staff_groups(**kwargs) -> None:
    """Give the staff groups their permissions (run after every migrate)."""
    permissions = Permission.objects.filter(content_type__app_label__in=_APPS)
    bank_admin, _ = Group.objects.get_or_create(name=BANK_ADMIN)
    helpdesk, _ = Group.objects.get_or_create(name=HELPDESK)
    bank_admin.permissions.set(permissions)
    helpdesk.permissions.set(permissions.filter(codename__startswith="view_"))
