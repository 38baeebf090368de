"""Revoking an API key through one web process is seen at once by another (production mode:
two separate uvicorn servers on PostgreSQL and Redis); a read-only key is refused writes there too."""

from __future__ import annotations

import json
import urllib.request

import pytest

from tests.circuits import BELL
from tests.production.harness import free_port, running_portal

pytestmark = pytest.mark.production


def call(port: int, key: str, method: str, path: str, body=None) -> tuple[int, dict]:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/api/v1{path}",
        data=json.dumps(body).encode() if body is not None else None,
        method=method,
        headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return answer.status, json.loads(answer.read() or b"{}")
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read() or b"{}")


def test_a_key_revoked_on_one_web_process_is_refused_at_once_by_another(tmp_path):
    with running_portal(tmp_path, redis_db=12) as portal:
        first = portal.start_web()
        second = portal.start_web(name="web-2", port=free_port())
        status, made = call(first, portal.key, "POST", "/keys", {"name": "ci"})
        assert status == 201, made
        key = made["key"]
        # Both processes have served the new key (and would have cached it, had they a cache).
        for port in (first, second, first, second):
            assert call(port, key, "GET", "/jobs")[0] == 200
        assert call(second, key, "POST", "/jobs", {"profile": "local", "circuits": [{"qasm": BELL}]})[0] == 201

        assert call(first, portal.key, "DELETE", f"/keys/{made['id']}")[0] == 204
        for port in (second, first):
            status, answer = call(port, key, "GET", "/jobs")
            assert (status, answer["detail"]) == (401, "API key revoked")
        assert call(second, portal.key, "GET", "/jobs")[0] == 200  # the other key still works

        status, reader = call(second, portal.key, "POST", "/keys", {"name": "reader", "read_only": True})
        assert status == 201, reader
        assert call(first, reader["key"], "GET", "/jobs")[0] == 200
        status, answer = call(first, reader["key"], "POST", "/jobs", {"profile": "local", "circuits": [{"qasm": BELL}]})
        assert (status, answer["detail"]) == (403, "this API key is read-only")
        assert portal.sql("SELECT count(*) FROM jobs_job")[0][0] == 1
