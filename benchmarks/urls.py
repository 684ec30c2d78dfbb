"""A URL for every case of the benchmark, and the admin (section D)."""

from django.contrib import admin
from django.urls import include, path

from benchmarks import views

urlpatterns = [
    path("bare/", views.bare),
    path("ours/", views.ours),
    path("ours-drf/", views.OursDRFView.as_view()),
    path("bench/create/", views.create),
    path("bench/create-for-user-id/", views.create_for_user_id),
    path("bench/sign-in-without-session/", views.sign_in_without_session),
    path("auth/", include("supertokens_django.urls")),
    path("peer/sessions-db/", views.sessions),
    path("peer/sessions-cached-db/", views.sessions),
    path("peer/simplejwt-hs256/", views.SimpleJWTView.as_view()),
    path("peer/simplejwt-rs256/", views.SimpleJWTRS256View.as_view()),
    path("peer/simplejwt-stateless/", views.SimpleJWTStatelessView.as_view()),
    path("peer/knox/", views.KnoxView.as_view()),
    path("peer/pyjwt-hs256/", views.pyjwt_hs256),
    # Last: resolving the URL of a case never gets this far.
    path("admin/", admin.site.urls),
]
