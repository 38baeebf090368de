"""The one-hop ASGI handler (qportal.handler) through the whole ASGI application: API key and session
requests, the sync middleware chain (sessions, CSRF), a streaming file response, errors."""

from __future__ import annotations

import asyncio
import json
from http.cookies import SimpleCookie

import pytest
from asgiref.sync import sync_to_async
from asgiref.testing import ApplicationCommunicator
from django.conf import settings
from django.test import Client

from executors import isolation
from qportal.accounts.models import ApiKey
from qportal.jobs import waiting
from qportal.jobs.models import Job, JobEvent
from qportal.jobs.worker import JobRunner
from tests.circuits import BELL

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)


@pytest.fixture
def app(settings):
    settings.EMBEDDED_WORKER = False
    from qportal.asgi import application

    return application


def http_scope(method: str, path: str, headers: list | None = None, query: bytes = b"") -> dict:
    return {
        "type": "http",
        "http_version": "1.1",
        "method": method,
        "path": path,
        "query_string": query,
        "headers": [(b"host", b"testserver"), *(headers or [])],
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
    }


async def call(app, method: str, path: str, body: bytes = b"", headers: list | None = None, query: bytes = b"") -> dict:
    """One HTTP request; the answer's status, headers and whole body (streamed ones too)."""
    comm = ApplicationCommunicator(app, http_scope(method, path, headers, query))
    await comm.send_input({"type": "http.request", "body": body})
    start = await comm.receive_output(30)
    chunks, more = [], True
    while more:
        message = await comm.receive_output(30)
        chunks.append(message.get("body", b""))
        more = message.get("more_body", False)
    await comm.wait(30)
    return {"status": start["status"], "headers": start["headers"], "body": b"".join(chunks)}


def cookies(response: dict) -> dict[str, str]:
    jar = SimpleCookie()
    for name, value in response["headers"]:
        if name.lower() == b"set-cookie":
            jar.load(value.decode())
    return {k: m.value for k, m in jar.items()}


async def test_api_submit_and_fetch_through_the_asgi_app(app, users):
    _, key = await sync_to_async(ApiKey.issue)(users["alice"])
    auth = [(b"authorization", f"Bearer {key}".encode()), (b"content-type", b"application/json")]
    body = json.dumps({"profile": "local", "circuits": [{"qasm": BELL}], "name": "asgi"}).encode()
    created = await call(app, "POST", "/api/v1/jobs", body, auth)
    assert created["status"] == 201, created["body"]
    job = json.loads(created["body"])
    assert (job["name"], job["status"], job["last_seq"]) == ("asgi", "queued", 1)
    assert await Job.objects.filter(id=job["id"]).acount() == 1
    assert [e.kind async for e in JobEvent.objects.filter(job_id=job["id"])] == ["queued"]
    fetched = await call(app, "GET", f"/api/v1/jobs/{job['id']}", headers=auth)
    assert fetched["status"] == 200 and json.loads(fetched["body"])["id"] == job["id"]
    bad = await call(app, "POST", "/api/v1/jobs", b'{"profile": "local", "circuits": []}', auth)
    assert bad["status"] == 400 and "at least one" in json.loads(bad["body"])["detail"]
    assert (await call(app, "GET", "/api/v1/jobs"))["status"] == 401


async def test_a_waiting_submit_is_woken_by_the_jobs_done_event(app, users, monkeypatch):
    """The database recheck is pushed past the wait, so only the live ``done`` event, delivered by
    the process's fan-out, can end the wait with a finished job."""
    monkeypatch.setattr(waiting, "RECHECK_SECONDS", 120)
    _, key = await sync_to_async(ApiKey.issue)(users["alice"])
    auth = [(b"authorization", f"Bearer {key}".encode()), (b"content-type", b"application/json")]
    body = json.dumps({"profile": "local", "shots": 2000, "circuits": [{"qasm": BELL}]}).encode()
    serving = asyncio.create_task(JobRunner(worker_id="w").serve())
    try:
        answer = await call(app, "POST", "/api/v1/jobs", body, auth, query=b"wait=20")
    finally:
        serving.cancel()
        isolation.disable()
    assert answer["status"] == 201, answer["body"]
    job = json.loads(answer["body"])
    assert job["status"] == "done", job["status"]
    (result,) = job["results"]  # a summary: shots and the top outcome of the Bell state's two
    assert result["shots"] == 2000 and result["outcomes"] == 2 and result["top_outcome"] in ("00", "11")
    assert 1000 <= result["top_count"] <= 1000 + 5 * 500**0.5


async def one_thread_handler_and_a_queued_job(user):
    """A one-hop handler with one request thread, an API key's headers, and a job no worker runs."""
    from qportal.handler import OneHopASGIHandler

    handler = OneHopASGIHandler(threads=1)
    _, key = await sync_to_async(ApiKey.issue)(user)
    auth = [(b"authorization", f"Bearer {key}".encode()), (b"content-type", b"application/json")]
    body = json.dumps({"profile": "local", "circuits": [{"qasm": BELL}]}).encode()
    job = json.loads((await call(handler, "POST", "/api/v1/jobs", body, auth))["body"])
    return handler, auth, job


async def test_a_waiting_request_holds_no_request_thread(users):
    """With one request thread, a plain GET is answered while another request waits on a job."""
    handler, auth, job = await one_thread_handler_and_a_queued_job(users["alice"])
    waiting_call = asyncio.create_task(call(handler, "GET", f"/api/v1/jobs/{job['id']}", headers=auth, query=b"wait=3"))
    await asyncio.sleep(0.2)  # let the waiting request start
    plain = await call(handler, "GET", "/api/v1/jobs", headers=auth)
    assert plain["status"] == 200
    assert not waiting_call.done(), "the plain GET had to wait for the waiting request's thread"
    waited = await waiting_call
    assert waited["status"] == 200 and json.loads(waited["body"])["status"] == "queued"


async def test_a_waiting_request_ends_when_its_client_leaves(users):
    """The wait is given up (and its event subscription dropped) when the client disconnects."""
    from qportal.jobs import bus

    handler, auth, job = await one_thread_handler_and_a_queued_job(users["alice"])
    scope = http_scope("GET", f"/api/v1/jobs/{job['id']}", auth, b"wait=30")
    comm = ApplicationCommunicator(handler, scope)
    await comm.send_input({"type": "http.request", "body": b""})
    group = f"job.{job['id']}"
    for _ in range(100):  # the wait has begun once its subscription is there
        if bus.current().hub.groups.get(group):
            break
        await asyncio.sleep(0.02)
    assert bus.current().hub.groups.get(group), "the request never started waiting"
    await comm.send_input({"type": "http.disconnect"})
    await comm.wait(5)  # well before the 30 s wait is over
    assert await comm.receive_nothing(0.1), "an answer was sent to a client that had left"
    assert not bus.current().hub.groups.get(group)


async def test_login_form_with_csrf_and_session_cookies(app, users):
    form = await call(app, "GET", "/login/")
    assert form["status"] == 200
    csrf = cookies(form)["csrftoken"]
    body = f"username=alice&password=correct+horse+battery&csrfmiddlewaretoken={csrf}".encode()
    headers = [(b"content-type", b"application/x-www-form-urlencoded"), (b"cookie", f"csrftoken={csrf}".encode())]
    done = await call(app, "POST", "/login/", body, headers)
    assert done["status"] == 302 and "sessionid" in cookies(done)
    refused = await call(app, "POST", "/login/", body, [headers[0]])  # no CSRF cookie
    assert refused["status"] == 403


async def test_streaming_file_response(app, users):
    examples = sorted(settings.QASMBENCH_DIR.glob("*.qasm"))
    if not examples:
        pytest.skip("QASMBench examples not installed")
    client = Client()
    await sync_to_async(client.force_login)(users["alice"])
    session = [(b"cookie", f"sessionid={client.cookies['sessionid'].value}".encode())]
    got = await call(app, "GET", f"/jobs/examples/{examples[0].stem}.qasm", headers=session)
    assert got["status"] == 200 and got["body"] == examples[0].read_bytes()
    assert (await call(app, "GET", "/jobs/examples/no_such_file.qasm", headers=session))["status"] == 404
