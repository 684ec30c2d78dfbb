"""A URLconf that mounts ``supertokens_django.urls`` at ``/api/auth/`` (the checks' E034)."""

from django.urls import include, path

urlpatterns = [path("api/auth/", include("supertokens_django.urls"))]
