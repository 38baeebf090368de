"""Websocket routes."""

from django.urls import path, re_path

from qportal.jobs import consumers

websocket_urlpatterns = [
    path("ws/jobs/", consumers.TeamJobsConsumer.as_asgi()),
    path("ws/jobs/<uuid:job_id>/", consumers.JobConsumer.as_asgi()),
    re_path(r"", consumers.NoSuchStream.as_asgi()),  # any other path: closed with 4404, not an HTTP 500
]
