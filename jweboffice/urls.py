from django.contrib import admin
from django.contrib.auth.decorators import login_not_required
from django.contrib.auth.views import redirect_to_login
from django.urls import include, path, reverse
from django.views.i18n import set_language


@login_not_required
def admin_login(request, extra_context=None):
    """Send bank staff to their own entrance instead of the admin's password-only form."""
    return redirect_to_login(request.GET.get("next", reverse("admin:index")), reverse("auth_enforcement:login-bank"))


admin.site.login = admin_login
admin.site.site_header = admin.site.site_title = "JWEBOFFICE"

urlpatterns = [
    path("admin/", admin.site.urls),
    path("i18n/setlang/", login_not_required(set_language), name="set_language"),
    path("", include("auth_enforcement.urls")),
    path("", include("jweboffice.portal.urls")),
]
