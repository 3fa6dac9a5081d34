from django.urls import path

from auth_enforcement import views
from auth_enforcement.editions import BANK_ENTRANCE, Edition

app_name = "auth_enforcement"

urlpatterns = [
    path("fx/login/", views.EntranceLoginView.as_view(entrance=Edition.FX), name="login-fx"),
    path("domestic/login/", views.EntranceLoginView.as_view(entrance=Edition.DOMESTIC), name="login-domestic"),
    path("bank/login/", views.EntranceLoginView.as_view(entrance=BANK_ENTRANCE), name="login-bank"),
    path("logout/", views.logout_view, name="logout"),
    path("enroll/", views.enroll, name="enroll"),
    path("enroll/totp/", views.enroll_totp, name="enroll-totp"),
    path("enroll/postpone/", views.postpone, name="postpone"),
]
