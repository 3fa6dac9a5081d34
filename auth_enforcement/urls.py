from django.urls import path

from auth_enforcement import device_api, views
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
    path("enroll/push/", views.enroll_push, name="enroll-push"),
    path("enroll/push/status/", views.enroll_push_status, name="enroll-push-status"),
    path("enroll/switch/", views.switch_method, name="switch"),
    path("enroll/start-of-use/", views.start_of_use, name="start-of-use"),
    path("enroll/start-of-use/status/", views.start_of_use_status, name="start-of-use-status"),
    path("enroll/lost/", views.report_lost, name="report-lost"),
    path("enroll/unlink/", views.unlink, name="unlink"),
    path("enroll/switch/status/", views.switch_status, name="switch-status"),
    path("device/push/", device_api.device_push, name="device-push"),
    path("device/push/openapi.yaml", device_api.openapi_document, name="device-push-openapi"),
    path("login/push/status/", views.push_status, name="push-status"),
]
