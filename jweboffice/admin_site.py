"""The Django admin, for bank staff who passed the second factor at their own entrance."""

from django.contrib import admin
from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest
from django.urls import reverse

from auth_enforcement import flows


class PortalAdminSite(admin.AdminSite):
    site_header = site_title = "JWEBOFFICE"
    index_title = "JWEBOFFICE"

    def has_permission(self, request: HttpRequest) -> bool:
        # The admin needs the second factor whatever the mandate says (ASVS 4.3.1).
        return super().has_permission(request) and flows.is_verified(request)

    def login(self, request: HttpRequest, extra_context=None):
        """Send bank staff to their own entrance instead of the admin's password-only form."""
        return redirect_to_login(
            request.GET.get("next", reverse("admin:index")), reverse("auth_enforcement:login-bank")
        )
