"""PortalClient and PortalExecutor against a tiny fake qportal API on 127.0.0.1."""

from __future__ import annotations

import json
import threading
import urllib.parse
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from qiskit import QuantumCircuit, qasm2
from qiskit.circuit import Parameter

from executors.base import (
    AuthenticationError,
    ExecutionRequest,
    InvalidRequest,
    RemoteJobFailed,
    RemoteState,
    TransientError,
)
from executors.portal_client import PortalClient, PortalExecutor

KEY = "qp_test_key"


class FakePortal:
    """Jobs answer 'running' for ``polls_before_done`` GETs, then done (or failed if named so)."""

    def __init__(self):
        self.requests: list[tuple[str, str, dict | None, str | None]] = []
        self.jobs: dict[str, dict] = {}
        self.polls_before_done = 2
        self.fail_next_status: int | None = None
        portal = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                portal.handle(self, "GET")

            def do_POST(self):
                portal.handle(self, "POST")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def handle(self, handler: BaseHTTPRequestHandler, method: str) -> None:
        length = int(handler.headers.get("Content-Length") or 0)
        body = json.loads(handler.rfile.read(length)) if length else None
        self.requests.append((method, handler.path, body, handler.headers.get("Authorization")))
        status, payload = self.route(method, handler.path, body, handler.headers.get("Authorization"))
        data = json.dumps(payload).encode()
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        handler.wfile.write(data)

    def route(self, method, path, body, auth):
        if auth != f"Bearer {KEY}":
            return 401, {"detail": "invalid API key"}
        if self.fail_next_status is not None:
            status, self.fail_next_status = self.fail_next_status, None
            return status, {"detail": "server exploded"}
        path, _, query = path.partition("?")
        parts = path.strip("/").split("/")
        if method == "POST" and parts == ["api", "v1", "jobs"]:
            if body.get("profile") != "aer":
                return 400, {"detail": f"unknown profile {body.get('profile')!r}"}
            job_id = str(uuid.uuid4())
            self.jobs[job_id] = {"id": job_id, "status": "queued", "body": body, "polls": 0}
            return 201, {"id": job_id, "status": "queued"}
        if len(parts) >= 4 and parts[:3] == ["api", "v1", "jobs"] and parts[3] in self.jobs:
            job = self.jobs[parts[3]]
            if method == "POST" and parts[4:] == ["cancel"]:
                job["status"] = "cancelled"
                return 200, {"id": job["id"], "status": "cancelled"}
            if method == "GET" and len(parts) == 4:
                return 200, self.view(job)
            if method == "GET" and parts[4:] == ["results"]:
                return 200, self.results(job, dict(urllib.parse.parse_qsl(query)))
        return 404, {"detail": "not found"}

    def view(self, job):
        if job["status"] in ("queued", "running"):
            job["polls"] += 1
            job["status"] = "running" if job["polls"] <= self.polls_before_done else "done"
        if job["status"] == "done" and job["body"].get("name") == "doomed":
            job["status"] = "failed"
        out = {"id": job["id"], "status": job["status"]}
        if job["status"] == "failed":
            out["error"] = "IBM error 1305: the backend rejected the job"
        if job["status"] == "done":
            out["results"] = [{"index": i, "done": True} for i in range(len(job["body"]["circuits"]))]  # summaries
        return out

    def results(self, job, query):
        """A page as the portal answers it, two circuits at most whatever the limit (pages are read on)."""
        offset, limit = int(query["offset"]), min(2, int(query["limit"]))
        n = len(job["body"]["circuits"])
        items = [
            {"index": i, "counts": {"00": 6 + i, "11": 4}, "probabilities": None, "evs": None, "stds": None}
            for i in range(offset, min(n, offset + limit))
        ]
        if query.get("memory") == "true" and job["body"].get("memory"):
            for item in items:
                item["memory"] = ["11", "00"] * 4 + ["00"] * (2 + item["index"])
        return {"items": items, "count": n}

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def portal():
    fake = FakePortal()
    yield fake
    fake.close()


def bell() -> QuantumCircuit:
    circuit = QuantumCircuit(2, 2)
    circuit.h(0)
    circuit.cx(0, 1)
    circuit.measure([0, 1], [0, 1])
    return circuit


def test_submit_sends_the_documented_body_and_bearer_key(portal):
    client = PortalClient(portal.url + "/", KEY)
    job = client.submit("aer", [qasm2.dumps(bell())], shots=10, name="bell", tags=["x"])
    assert job["status"] == "queued"
    method, path, body, auth = portal.requests[0]
    assert (method, path, auth) == ("POST", "/api/v1/jobs", f"Bearer {KEY}")
    assert body == {
        "profile": "aer",
        "circuits": [{"qasm": qasm2.dumps(bell())}],
        "primitive": "sampler",
        "shots": 10,
        "name": "bell",
        "tags": ["x"],
    }
    finished = client.wait(job["id"])
    assert finished["status"] == "done" and client.results(job["id"])[0]["counts"] == {"00": 6, "11": 4}
    assert KEY not in repr(client)


async def test_executor_polls_until_done_and_binds_parameters(portal):
    theta = Parameter("theta")
    circuit = QuantumCircuit(1, 1)
    circuit.rx(theta, 0)
    circuit.measure(0, 0)
    executor = PortalExecutor(portal.url, KEY, "aer")
    result = await executor.run(
        ExecutionRequest([bell(), circuit, bell()], shots=10, parameter_values=[None, [0.25], None], tags=["t"])
    )
    # Three circuits over two pages of results, each its own.
    assert [c.counts for c in result.circuits] == [{"00": 6 + i, "11": 4} for i in range(3)]
    assert result.circuits[0].shots == 10 and result.remote_ids == [result.metadata["portal_job"]]
    body = portal.requests[0][2]
    assert "rx(0.25)" in body["circuits"][1]["qasm"] and body["tags"] == ["t"]
    gets = [r for r in portal.requests if r[0] == "GET" and "/results" not in r[1]]
    assert len(gets) == portal.polls_before_done + 1
    pages = [r[1] for r in portal.requests if "/results" in r[1]]
    assert pages == [f"/api/v1/jobs/{result.remote_ids[0]}/results?offset={n}&limit=200" for n in (0, 2)]
    assert all(path.endswith("?wait=20") for _, path, _, _ in gets)  # long-polls, not bare polls


async def test_the_requests_options_are_sent_with_the_job(portal):
    options = {"resilience": {"zne_mitigation": True}, "default_precision": 0.05}
    request = ExecutionRequest([bell()], primitive="estimator", observables=[["ZZ"]], options=options)
    await PortalExecutor(portal.url, KEY, "aer").submit(request)
    assert portal.requests[0][2]["options"] == options


async def test_failed_job_raises_remote_job_failed_with_message(portal):
    executor = PortalExecutor(portal.url, KEY, "aer")
    handle = await executor.submit(ExecutionRequest([bell()], shots=10))
    portal.jobs[handle.remote_ids[0]]["body"]["name"] = "doomed"
    with pytest.raises(RemoteJobFailed, match="1305"):
        await executor.result(handle)
    assert await executor.status(handle) == RemoteState.FAILED


async def test_cancel_posts_to_the_cancel_endpoint(portal):
    portal.polls_before_done = 1000
    executor = PortalExecutor(portal.url, KEY, "aer")
    handle = await executor.submit(ExecutionRequest([bell()], shots=10))
    assert await executor.status(handle) == RemoteState.RUNNING
    await executor.cancel(handle)
    assert ("POST", f"/api/v1/jobs/{handle.remote_ids[0]}/cancel") in [(m, p) for m, p, _, _ in portal.requests]
    assert await executor.status(handle) == RemoteState.CANCELLED


def test_http_errors_map_to_executor_errors(portal):
    client = PortalClient(portal.url, KEY)
    with pytest.raises(InvalidRequest, match="unknown profile 'nope'"):
        client.submit("nope", ["OPENQASM 2.0;"])
    with pytest.raises(AuthenticationError, match="invalid API key"):
        PortalClient(portal.url, "wrong").submit("aer", ["OPENQASM 2.0;"])
    portal.fail_next_status = 503
    with pytest.raises(TransientError, match="503"):
        client.job("anything")
    with pytest.raises(InvalidRequest, match="not found"):
        client.job("missing")


def test_connection_refused_is_transient(portal):
    url = portal.url
    portal.close()
    with pytest.raises(TransientError, match="cannot reach"):
        PortalClient(url, KEY).job("x")


def test_unbound_parameters_are_refused():
    circuit = QuantumCircuit(1, 1)
    circuit.rx(Parameter("a"), 0)
    circuit.measure(0, 0)
    with pytest.raises(InvalidRequest, match="unbound parameters"):
        PortalExecutor("http://127.0.0.1:9", KEY, "aer").validate(ExecutionRequest([circuit]))
