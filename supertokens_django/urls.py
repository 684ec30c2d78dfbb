"""``path("auth/", include("supertokens_django.urls"))`` — mount at ``API_BASE_PATH``."""

from django.urls import path

from . import views

app_name = "supertokens_django"

urlpatterns = [
    path("session/refresh", views.refresh, name="refresh"),
    path("signout", views.signout, name="signout"),
    path("jwt/jwks.json", views.jwks, name="jwks"),
]
