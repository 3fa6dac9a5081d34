"""The bank staff groups and what each may do in the admin."""

from django.contrib.auth.models import Group, Permission
from django.db.models import Q

BANK_ADMIN = "bank_admin"
HELPDESK = "helpdesk"

# bank_admin manages customers, contracts, users and mandates; the help desk looks, and
# unlocks or resets on its own page with a reason (never in the admin).
_APPS = ("contracts", "auth_enforcement")
HELPDESK_ACTIONS = ("unlock_authenticator", "reset_registration")


def sync_staff_groups(**kwargs) -> None:
    """Give the staff groups their permissions (run after every migrate)."""
    permissions = Permission.objects.filter(content_type__app_label__in=_APPS)
    bank_admin, _ = Group.objects.get_or_create(name=BANK_ADMIN)
    helpdesk, _ = Group.objects.get_or_create(name=HELPDESK)
    bank_admin.permissions.set(permissions)
    # The help desk only looks in the admin; it unlocks and resets on its own page, with a reason.
    helpdesk.permissions.set(permissions.filter(Q(codename__startswith="view_") | Q(codename__in=HELPDESK_ACTIONS)))
