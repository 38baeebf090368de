"""A submission retried with the same ``Idempotency-Key`` returns the first job, never a second
(issue 16: three jobs were made while their clients saw a dropped connection and resubmitted)."""

from __future__ import annotations

import pytest

from qportal.jobs import services
from qportal.jobs.models import Job
from tests.circuits import BELL

BODY = {"profile": "local", "circuits": [{"qasm": BELL}], "shots": 100, "name": "retried"}


def post(api, key, body=BODY):
    return api.client.post(
        "/api/v1/jobs", body, content_type="application/json", HTTP_IDEMPOTENCY_KEY=key, **api.headers
    )


def test_a_retry_with_the_same_key_returns_the_first_job(api_for):
    api = api_for("bob")
    first = post(api, "run-2026-12-01-a")
    again = post(api, "run-2026-12-01-a")
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["id"] == first.json()["id"] and again.json()["name"] == "retried"
    assert Job.objects.count() == 1
    other = post(api, "run-2026-12-01-b")
    assert other.status_code == 201 and other.json()["id"] != first.json()["id"]
    assert api.post("/jobs", BODY).status_code == 201  # no key: a new job each time
    assert Job.objects.count() == 3


def test_keys_belong_to_their_user(api_for):
    assert post(api_for("bob"), "shared-key").status_code == 201
    assert post(api_for("alice"), "shared-key").status_code == 201
    assert Job.objects.count() == 2


@pytest.mark.parametrize("key", ["", "has space", "x" * 101, "é"])
def test_a_malformed_key_is_400(api_for, key):
    resp = post(api_for("bob"), key)
    assert resp.status_code == 400 and "Idempotency-Key" in resp.json()["detail"]
    assert not Job.objects.exists()


def test_two_racing_retries_make_one_job(api_for, users, monkeypatch):
    """Both requests looked the key up before either wrote: the loser's insert hits the unique
    constraint, and it answers with the winner's job."""
    first = post(api_for("bob"), "racing-key").json()
    real = services._replayed
    calls = []

    def late(user, key):
        calls.append(key)
        return None if len(calls) == 1 else real(user, key)  # the first look-up saw nothing yet

    monkeypatch.setattr(services, "_replayed", late)
    again = post(api_for("bob"), "racing-key")
    assert again.status_code == 200 and again.json()["id"] == first["id"] and len(calls) == 2
    assert Job.objects.count() == 1
