"""URLs of the example project: the page, the admin, the auth endpoints and the JSON API."""

from django.contrib import admin
from django.contrib.staticfiles.urls import staticfiles_urlpatterns
from django.urls import include, path

from example_project import views

urlpatterns = [
    path("", views.index, name="index"),
    path("admin/", admin.site.urls),
    path("auth/", include("supertokens_django.urls")),
    path("api/login", views.login, name="api-login"),
    path("api/me", views.me, name="api-me"),
    path("api/jwt-payload", views.jwt_payload, name="api-jwt-payload"),
    path("api/session-data", views.session_data, name="api-session-data"),
    path("api/optional", views.optional, name="api-optional"),
    path("api/strict", views.strict, name="api-strict"),
    path("api/revoke-all", views.revoke_all, name="api-revoke-all"),
]

if views.drf_available():
    from example_project.drf_views import DrfMeView

    urlpatterns.append(path("api/drf/me", DrfMeView.as_view(), name="api-drf-me"))

# Serves /static/ under any WSGI server while DEBUG is on (runserver does it by itself).
urlpatterns += staticfiles_urlpatterns()
