from django.contrib import admin
from django.contrib.auth.decorators import login_not_required
from django.urls import include, path
from django.views.i18n import set_language

urlpatterns = [
    path("admin/", admin.site.urls),
    path("helpdesk/", include("jweboffice.helpdesk.urls")),
    path("i18n/setlang/", login_not_required(set_language), name="set_language"),
    path("", include("auth_enforcement.urls")),
    path("", include("jweboffice.portal.urls")),
]

# A database outage (a PostgreSQL restart, a failover) gets a 503 "try again", not a 500.
handler500 = "jweboffice.errors.server_error"
