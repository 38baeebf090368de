from django.contrib import admin
from django.urls import include, path

from qportal.api import api

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/v1/", api.urls),
    path("", include("qportal.accounts.auth_urls")),
    path("credentials/", include("qportal.accounts.urls")),
    path("keys/", include("qportal.accounts.key_urls")),
    path("teams/", include("qportal.accounts.team_urls")),
    path("notifications/", include("qportal.notifications.urls")),
    path("", include("qportal.jobs.urls")),
]
