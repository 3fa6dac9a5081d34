from django.urls import path

from jweboffice.portal import views

app_name = "portal"

urlpatterns = [
    path("", views.entrance, name="entrance"),
    path("notice/", views.notice, name="notice"),
    path("home/", views.home, name="home"),
    path("services/<slug:slug>/", views.service, name="service"),
    path("manager/", views.manager, name="manager"),
    path("manager/users/<int:pk>/", views.manager_user, name="manager-user"),
    path("manager/users/<int:pk>/unlock/", views.manager_unlock, name="manager-unlock"),
    path("manager/users/<int:pk>/reset/", views.manager_reset, name="manager-reset"),
]
