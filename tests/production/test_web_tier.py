"""The production web tier on the machine's PostgreSQL and Redis: uvicorn worker processes serving
the REST API and the websocket streams, with pooled database connections."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

import pytest
from websockets.sync.client import connect

from tests.circuits import BELL
from tests.production.harness import running_portal

pytestmark = pytest.mark.production


@pytest.fixture
def portal(tmp_path):
    with running_portal(tmp_path, redis_db=9) as portal:
        yield portal


def test_two_web_processes_share_a_small_pool_and_stream_events(portal):
    # 2 processes x 2 pooled connections serve 48 requests, 16 at a time, from 8 threads each: a
    # request that kept its connection would leave the others waiting for the pool until they fail.
    portal.start_web(workers=2, env={"QPORTAL_DB_POOL_SIZE": "2", "QPORTAL_WEB_THREADS": "8"})
    session = portal.session_cookie()
    origin = f"http://127.0.0.1:{portal.port}"
    with connect(
        f"ws://127.0.0.1:{portal.port}/ws/jobs/", origin=origin, additional_headers={"Cookie": f"sessionid={session}"}
    ) as socket:
        assert json.loads(socket.recv(timeout=30))["type"] == "hello"
        body = {"profile": "local", "circuits": [{"qasm": BELL}], "name": "pooled"}
        with ThreadPoolExecutor(16) as pool:
            answers = list(pool.map(lambda _: portal.request("POST", "/jobs", body), range(48)))
        assert [status for status, _ in answers] == [201] * 48, answers[:3]
        ids = {job["id"] for _, job in answers}
        frames = [json.loads(socket.recv(timeout=30)) for _ in range(48)]
    assert {f["job"] for f in frames} == ids and {(f["seq"], f["kind"]) for f in frames} == {(1, "queued")}
    assert portal.sql("SELECT count(*) FROM jobs_job WHERE last_seq = 1 AND status = 'queued'")[0][0] == 48
    connections = portal.sql("SELECT count(*) FROM pg_stat_activity WHERE datname = %s", portal.db_name)[0][0]
    assert connections <= 2 * 2 + 1, connections  # the pools, plus this query's own connection

    with pytest.raises(Exception, match="403|rejected"):  # another site's page may not open a stream
        connect(f"ws://127.0.0.1:{portal.port}/ws/jobs/", origin="http://evil.example").close()
