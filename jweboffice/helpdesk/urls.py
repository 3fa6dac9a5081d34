from django.urls import path

from jweboffice.helpdesk import views

app_name = "helpdesk"

urlpatterns = [
    path("", views.lookup, name="lookup"),
    path("users/<int:pk>/", views.card, name="card"),
    path("users/<int:pk>/unlock/", views.unlock, name="unlock"),
    path("users/<int:pk>/reset/", views.reset, name="reset"),
    path("users/<int:pk>/handled/", views.handled, name="handled"),
]
