"""A URLconf that leaves out ``supertokens_django.urls`` (the system checks' case W007)."""

from django.contrib import admin
from django.urls import path

urlpatterns = [path("admin/", admin.site.urls)]
