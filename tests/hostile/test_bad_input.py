"""Input no database can store is a 4xx, never a 500 (issue 16): NUL characters and lone
surrogates anywhere in a body or a query, integers past what a column holds, unbounded pages."""

from __future__ import annotations

import pytest

from qportal.jobs.models import Job
from tests.circuits import BELL

QUERIES = [
    ("/jobs", {"team": 10**20}, "out of range"),
    ("/jobs", {"page": 2**64}, "out of range"),
    ("/jobs", {"page": 2}, "page numbers are gone"),
    ("/jobs", {"cursor": "x" * 5000}, "longer than 1000 characters"),
    ("/jobs", {"cursor": "not-a-cursor"}, "invalid cursor"),
    ("/jobs", {"page_size": 10**9}, "less than or equal to 200"),
    ("/jobs", {"q": "a\x00b"}, "NUL"),
    ("/jobs", {"tag": "x\x00"}, "NUL"),
    ("/credentials", {"team": 10**20}, "out of range"),
    ("/backends", {"profile": "x\x00"}, "NUL"),
]


@pytest.mark.parametrize("path, params, reason", QUERIES)
def test_bad_query_parameters_are_4xx(api_for, path, params, reason):
    resp = api_for("bob").get(path, **params)
    assert resp.status_code in (400, 422) and reason in resp.json()["detail"]


BODIES = [
    ({"name": "a\x00b"}, "body.name contains a NUL character"),
    ({"tags": ["x\x00"]}, "body.tags[0] contains a NUL character"),
    ({"circuits": [{"qasm": BELL + "// \x00\n"}]}, "body.circuits[0].qasm contains a NUL character"),
    ({"circuits": [{"qasm": BELL, "name": "c\x00"}]}, "body.circuits[0].name contains a NUL character"),
    ({"name": "\ud800"}, "lone surrogate"),
    ({"team": 10**20}, "out of range"),
    ({"shots": -(10**30)}, "out of range"),
]


@pytest.mark.parametrize("fields, reason", BODIES)
def test_bad_bodies_are_400_and_store_nothing(api_for, fields, reason):
    body = {"profile": "local", "circuits": [{"qasm": BELL}], **fields}
    resp = api_for("bob").post("/jobs", body)
    assert resp.status_code == 400 and reason in resp.json()["detail"]
    assert not Job.objects.exists()


def test_a_deeply_nested_body_is_400(api_for):
    deep = "[" * 100_000 + "]" * 100_000
    resp = api_for("bob").client.post("/api/v1/jobs", deep, content_type="application/json", **api_for("bob").headers)
    assert resp.status_code == 400
