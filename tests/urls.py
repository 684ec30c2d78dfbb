"""URLs for the test suite: the admin and the package's auth endpoints."""

from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    path("auth/", include("supertokens_django.urls")),
]
