from django.contrib.admin.apps import AdminConfig


class PortalAdminConfig(AdminConfig):
    """Django's admin, on the site that requires the second factor."""

    default_site = "jweboffice.admin_site.PortalAdminSite"
