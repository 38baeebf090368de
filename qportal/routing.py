"""Websocket routes."""

from django.urls import path

from qportal.jobs import consumers

websocket_urlpatterns = [
    path("ws/jobs/", consumers.TeamJobsConsumer.as_asgi()),
    path("ws/jobs/<uuid:job_id>/", consumers.JobConsumer.as_asgi()),
]
