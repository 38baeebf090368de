"""An anonymous write is told to authenticate (401), not that its CSRF check failed."""

from __future__ import annotations

from django.test import Client

from qportal.jobs.models import Job


def test_anonymous_writes_are_401_not_a_csrf_failure(users):
    client = Client(enforce_csrf_checks=True)
    resp = client.post("/api/v1/jobs", {"profile": "local"}, content_type="application/json")
    assert resp.status_code == 401 and "authentication required" in resp.json()["detail"]
    client.force_login(users["bob"])  # a logged-in session still needs its CSRF token
    resp = client.post("/api/v1/jobs", {"profile": "local"}, content_type="application/json")
    assert resp.status_code == 403 and not Job.objects.exists()
