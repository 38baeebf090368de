"""Jobs on an ``ibm_cloud`` profile through the worker and the real qiskit-ibm-runtime client,
against the in-process IBM API stand-in; and proof that the token leaks nowhere."""

from __future__ import annotations

import asyncio
import json
import logging

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from django.contrib.auth import get_user_model
from django.db import connection
from django.test import Client

from qportal.accounts.models import ApiKey, IBMCredential
from qportal.jobs import worker
from qportal.jobs.models import Job
from qportal.jobs.worker import JobRunner
from tests.circuits import BELL, GHZ3
from tests.conftest import ApiClient
from tests.ibm_standin.server import StandIn
from tests.stats import assert_counts_match, exact_probabilities

JOBS = r"/jobs$"


@pytest.fixture
def executors(monkeypatch):
    """Every executor the worker builds, with short retry and poll intervals (same growth rules)."""
    built = []
    real = worker.build_executor

    def build(spec):
        ex = real(spec)
        if spec.kind == "ibm_cloud":
            ex.base, ex.cap, ex.poll, ex.poll_cap = 0.02, 1.0, 0.02, 0.2
        built.append(ex)
        return ex

    monkeypatch.setattr(worker, "build_executor", build)
    return built


def cloud_setup(api, team, server: StandIn, *, token: str | None = None, checked: bool = True) -> dict:
    resp = api.post(
        "/credentials",
        {
            "name": "standin",
            "token": token or server.token,
            "url": server.url,
            "instance": server.crn,
            "proxies": server.proxies,
            "team": team.id,
        },
    )
    assert resp.status_code == 201, resp.content
    cred = resp.json()
    if checked:  # as after a worker's background check, so the tests below see only the job path
        IBMCredential.objects.filter(id=cred["id"]).update(status="valid", status_reason="ok")
    resp = api.post(
        "/profiles",
        {
            "name": "cloud",
            "kind": "ibm_cloud",
            "backend": "ibm_manila",
            "credential": "standin",
            "team": team.id,
            "shots": 2000,
        },
    )
    assert resp.status_code == 201, resp.content
    return cred


def submit(api, team, qasm=BELL, shots=4000) -> str:
    resp = api.post("/jobs", {"profile": "cloud", "team": team.id, "circuits": [{"qasm": qasm}], "shots": shots})
    assert resp.status_code == 201, resp.content
    return resp.json()["id"]


@pytest.mark.parametrize("qasm", [BELL, GHZ3], ids=["bell", "ghz3"])
def test_cloud_job_counts_match_exact_probabilities(api_for, users, standin, executors, run_jobs, qasm):
    api = api_for("alice")
    cloud_setup(api, users["lab"], standin)
    job_id = submit(api, users["lab"], qasm)
    run_jobs()
    job = api.job_with_results(job_id)
    assert job["status"] == "done", job
    [remote] = standin.jobs.values()
    assert job["remote_ids"] == [remote.id] and standin.post_count == 1
    counts = job["results"][0]["counts"]
    assert sum(counts.values()) == 4000
    assert_counts_match(counts, exact_probabilities(qasm))
    assert Job.objects.get(id=job_id).submit_key in remote.tags


def test_429_five_times_then_success_with_growing_waits(api_for, users, standin, executors, run_jobs):
    api = api_for("alice")
    cloud_setup(api, users["lab"], standin)
    standin.inject(JOBS, 429, times=5, method="POST", retry_after=0)
    job_id = submit(api, users["lab"], shots=500)
    run_jobs()
    job = api.job_with_results(job_id)
    assert job["status"] == "done" and job["attempt"] == 1, job
    [ex] = executors
    assert len(ex.retry_waits) == 5, ex.retry_waits
    assert (
        all(a <= b for a, b in zip(ex.retry_waits, ex.retry_waits[1:], strict=False))
        and ex.retry_waits[-1] > ex.retry_waits[0]
    )
    assert standin.post_count == 6 and len(standin.jobs) == 1
    assert_counts_match(job["results"][0]["counts"], exact_probabilities(BELL))


def test_401_fails_at_once_and_marks_the_credential_invalid(api_for, users, standin, executors, run_jobs):
    api = api_for("alice")
    cred = cloud_setup(api, users["lab"], standin)
    standin.inject(JOBS, 401, times=None, method="POST")
    job_id = submit(api, users["lab"], shots=100)
    run_jobs()
    job = api.job_with_results(job_id)
    assert job["status"] == "failed" and job["attempt"] == 1
    assert "credential refused" in job["error"] and "401" in job["error"]
    assert standin.post_count == 1 and executors[0].retry_waits == []
    assert [e["kind"] for e in job["events"]].count("retrying") == 0
    stored = api.get(f"/credentials/{cred['id']}").json()
    assert stored["status"] == "invalid" and "401" in stored["status_reason"]
    for text in (json.dumps(job), json.dumps(stored)):
        assert standin.token not in text


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_background_check_fills_status_and_backends(users, standin):
    alice = users["alice"]
    _, key = ApiKey.issue(alice)
    api = ApiClient(Client(), key)
    good = cloud_setup(api, users["lab"], standin, checked=False)
    bad = api.post(
        "/credentials",
        {
            "name": "wrong",
            "token": "wrong-token-000000000000",
            "url": standin.url,
            "instance": standin.crn,
            "proxies": standin.proxies,
            "team": users["lab"].id,
        },
    ).json()
    assert good["status"] == bad["status"] == "unchecked"

    async def sweep_and_wait():
        runner = JobRunner(worker_id="check-test")
        await runner.check_credentials()
        await asyncio.gather(*runner._background)

    async_to_sync(sweep_and_wait)()
    good, bad = (api.get(f"/credentials/{c['id']}").json() for c in (good, bad))
    assert good["status"] == "valid" and standin.crn in good["status_reason"] and good["checked_at"]
    assert sorted(good["backends"]) == ["ibm_lima", "ibm_manila", "ibm_quito"]
    assert bad["status"] == "invalid" and "refused" in bad["status_reason"] and bad["backends"] == []

    listed = api.get("/backends", profile="cloud").json()
    assert sorted(b["name"] for b in listed["backends"]) == ["ibm_lima", "ibm_manila", "ibm_quito"]
    assert listed["least_busy"] in {"ibm_lima", "ibm_manila", "ibm_quito"} and listed["kind"] == "ibm_cloud"
    assert all(b["num_qubits"] == 5 and b["pending_jobs"] == 0 for b in listed["backends"])

    replaced = api.put(
        f"/credentials/{bad['id']}",
        {
            "name": "wrong",
            "token": standin.token,
            "url": standin.url,
            "instance": standin.crn,
            "proxies": standin.proxies,
        },
    )
    assert replaced.json()["status"] == "unchecked"
    async_to_sync(sweep_and_wait)()
    assert api.get(f"/credentials/{bad['id']}").json()["status"] == "valid"


# -- the token leaks nowhere -------------------------------------------------------------------
LOGGERS = (
    "qiskit_ibm_runtime",
    "urllib3",
    "requests",
    "qiskit",
    "executors",
    "qportal",
    "django",
    "ibm_cloud_sdk_core",
)


@pytest.fixture
def all_logs(caplog):
    """Every log record at DEBUG, including qiskit_ibm_runtime's (which does not propagate)."""
    caplog.set_level(logging.DEBUG)
    attached = []
    for name in LOGGERS:
        caplog.set_level(logging.DEBUG, logger=name)
        logger = logging.getLogger(name)
        if not logger.propagate:
            logger.addHandler(caplog.handler)
            attached.append(logger)
    yield caplog
    for logger in attached:
        logger.removeHandler(caplog.handler)


def assert_nowhere(token: str, *texts: str | bytes) -> None:
    for text in texts:
        text = text.decode(errors="replace") if isinstance(text, bytes) else text
        assert token not in text


def dump_database() -> str:
    """Every row of every table as text (the token must appear in none)."""
    rows = []
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names():
            cursor.execute(f'SELECT * FROM "{table}"')
            rows += [repr(row) for row in cursor.fetchall()]
    return "\n".join(rows)


def test_token_appears_in_no_response_log_admin_page_or_column(api_for, users, standin, executors, run_jobs, all_logs):
    token = standin.token
    api = api_for("alice")
    cred = cloud_setup(api, users["lab"], standin, checked=False)
    ok_id = submit(api, users["lab"], shots=300)
    run_jobs()
    standin.inject(JOBS, 401, times=None, method="POST")
    failed_id = submit(api, users["lab"], shots=300)
    run_jobs()
    standin.clear_faults()
    assert api.get(f"/jobs/{ok_id}").json()["status"] == "done"
    assert api.get(f"/jobs/{failed_id}").json()["status"] == "failed"

    responses = [
        api.get("/credentials"),
        api.get(f"/credentials/{cred['id']}"),
        api.post(f"/credentials/{cred['id']}/check"),
        api.post("/credentials", {"name": "standin", "token": token, "team": users["lab"].id}),  # 409
        api.post("/credentials", {"name": "x", "token": token + " bad", "team": users["lab"].id}),  # 400
        api.post("/credentials", {"token": token}),  # 422
        api.put(f"/credentials/{cred['id']}", {"name": "standin", "token": token, "url": "not a url"}),
        api.get("/jobs"),
        api.get(f"/jobs/{ok_id}"),
        api.get(f"/jobs/{failed_id}"),
        api.get(f"/jobs/{ok_id}/events"),
        api.get("/profiles"),
        api.get("/backends", profile="cloud"),
    ]
    assert [r.status_code for r in responses[3:7]] == [409, 400, 422, 400]
    assert_nowhere(token, *(r.content for r in responses))

    records = all_logs.records
    assert any(r.name.startswith("qiskit_ibm_runtime") and r.levelno == logging.DEBUG for r in records), (
        "the capture must include the IBM client's debug records"
    )
    assert any(r.name.startswith("executors") for r in records)
    assert_nowhere(token, *(all_logs.handler.format(r) for r in records), all_logs.text)

    admin = get_user_model().objects.create_superuser("root", password="pw-root-123")
    client = Client()
    client.force_login(admin)
    profile_id = next(p["id"] for p in api.get("/profiles").json() if p["name"] == "cloud")
    pages = [
        client.get("/admin/accounts/ibmcredential/"),
        client.get(f"/admin/accounts/ibmcredential/{cred['id']}/change/"),
        client.get("/admin/profiles/executorprofile/"),
        client.get(f"/admin/profiles/executorprofile/{profile_id}/change/"),
        client.get("/admin/jobs/job/"),
        client.get(f"/admin/jobs/job/{ok_id}/change/"),
    ]
    assert [p.status_code for p in pages] == [200] * len(pages)
    assert b"****" + token[-4:].encode() in pages[1].content  # the page really shows the credential
    assert_nowhere(token, *(p.content for p in pages))

    stored = IBMCredential.objects.get(id=cred["id"])
    assert stored.decrypt_token() == token and token not in stored.token_encrypted
    dump = dump_database()
    assert stored.token_encrypted in dump and str(ok_id).replace("-", "") in dump.replace("-", "")
    assert_nowhere(token, dump)


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
async def test_token_travels_in_no_websocket_frame(users, standin, settings):
    from channels.layers import get_channel_layer
    from channels.testing import WebsocketCommunicator

    from qportal.asgi import application
    from tests.test_websockets import frames_until, session_headers

    settings.EMBEDDED_WORKER = False
    await get_channel_layer().flush()
    alice = users["alice"]
    _, key = await sync_to_async(ApiKey.issue)(alice)
    api = ApiClient(Client(), key)
    await sync_to_async(cloud_setup)(api, users["lab"], standin)
    headers = await sync_to_async(session_headers)(alice)
    comm = WebsocketCommunicator(application, "/ws/jobs/", headers=headers)
    connected, _ = await comm.connect(timeout=5)
    assert connected
    hello = await comm.receive_json_from()
    assert hello["type"] == "hello"

    standin.inject(JOBS, 429, times=1, method="POST", retry_after=0)
    job_id = await sync_to_async(submit)(api, users["lab"], BELL, 300)
    await JobRunner(worker_id="ws-cloud").run_until_idle(60)
    frames = await frames_until(comm, "done", timeout=20)
    assert {f["job"] for f in frames} == {job_id} and "running" in [f["kind"] for f in frames]
    remote_ids = [f["data"].get("remote_ids") for f in frames if f["kind"] == "running"]
    assert remote_ids == [list(standin.jobs)]
    assert standin.token not in json.dumps(frames)

    standin.inject(JOBS, 401, times=None, method="POST")
    failed_id = await sync_to_async(submit)(api, users["lab"], BELL, 300)
    await JobRunner(worker_id="ws-cloud").run_until_idle(60)
    failed = await frames_until(comm, "failed", timeout=20)
    assert failed[-1]["job"] == failed_id and "401" in failed[-1]["message"]
    assert standin.token not in json.dumps(failed)
    await comm.disconnect()
