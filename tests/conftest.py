"""Shared fixtures: alice (owner of team "lab"), bob (member), viola (viewer), charlie (outsider)."""

from __future__ import annotations

import pytest
from asgiref.sync import async_to_sync
from django.contrib.auth import get_user_model
from ninja.testing import TestClient

from qportal.accounts.access import personal_team
from qportal.accounts.models import ApiKey, Membership, Role, Team

pytest_plugins = ["tests.ibm_standin.fixtures"]  # the `standin` fixture: a local IBM Quantum API


class ApiClient:
    """Django's test client speaking JSON with an API key, through the whole middleware stack."""

    def __init__(self, client, key: str | None):
        self.client = client
        self.headers = {"HTTP_AUTHORIZATION": f"Bearer {key}"} if key else {}

    def get(self, path, **params):
        return self.client.get(f"/api/v1{path}", params, **self.headers)

    def post(self, path, body=None):
        return self.client.post(f"/api/v1{path}", body or {}, content_type="application/json", **self.headers)

    def put(self, path, body):
        return self.client.put(f"/api/v1{path}", body, content_type="application/json", **self.headers)

    def delete(self, path):
        return self.client.delete(f"/api/v1{path}", **self.headers)

    def results(self, job_id) -> list[dict]:
        """Every circuit's stored results, read page by page from ``/jobs/{id}/results``."""
        results: list[dict] = []
        while True:
            page = self.get(f"/jobs/{job_id}/results", offset=len(results), limit=200)
            assert page.status_code == 200, page.content
            results += page.json()["items"]
            if len(results) >= page.json()["count"]:
                return results

    def job_with_results(self, job_id) -> dict:
        """The job's JSON with its summaries replaced by the stored results (``results``)."""
        job = self.get(f"/jobs/{job_id}").json()
        summaries = job["results"]
        job["results"] = self.results(job_id)
        assert [r["index"] for r in job["results"]] == [s["index"] for s in summaries]
        return job


def make_user(username: str):
    user = get_user_model().objects.create_user(username, password="correct horse battery")
    personal_team(user)
    return user


@pytest.fixture(autouse=True)
def fresh_rate_counts():
    """Each test starts with no API request and no unfinished job counted (``qportal.throttle``,
    ``qportal.jobs.queue_limits``): ids are reused across tests."""
    from qportal import throttle
    from qportal.jobs import queue_limits

    throttle.reset()
    queue_limits.forget()


@pytest.fixture
def users(db):
    alice, bob, viola, charlie = (make_user(name) for name in ("alice", "bob", "viola", "charlie"))
    lab = Team.objects.create(name="lab")
    Membership.objects.create(team=lab, user=alice, role=Role.OWNER)
    Membership.objects.create(team=lab, user=bob, role=Role.MEMBER)
    Membership.objects.create(team=lab, user=viola, role=Role.VIEWER)
    return {"alice": alice, "bob": bob, "viola": viola, "charlie": charlie, "lab": lab}


@pytest.fixture
def api_for(users, client):
    def make(username: str | None) -> ApiClient:
        if username is None:
            return ApiClient(client, None)
        _, key = ApiKey.issue(users[username])
        return ApiClient(client, key)

    return make


@pytest.fixture
def run_jobs():
    """Run every queued job to completion with an in-test worker."""
    from qportal.jobs.worker import JobRunner

    def run(timeout: float = 120, **kwargs):
        async_to_sync(JobRunner(worker_id="test-worker", **kwargs).run_until_idle)(timeout)

    return run


@pytest.fixture
def ninja_client():
    from qportal.api import api

    return TestClient(api)
