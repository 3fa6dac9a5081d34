from django.urls import path

from jweboffice.portal import views

app_name = "portal"

urlpatterns = [
    path("", views.entrance, name="entrance"),
    path("notice/", views.notice, name="notice"),
    path("home/", views.home, name="home"),
    path("services/<slug:slug>/", views.service, name="service"),
]
