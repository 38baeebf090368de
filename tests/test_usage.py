"""Usage per job, QPU estimates, budgets and the instance's remaining seconds (in-process worker,
the IBM stand-in for cloud jobs)."""

from __future__ import annotations

import io
import json
from datetime import timedelta

import numpy as np
import pytest
from django.test import override_settings

from executors.usage_estimate import backend_target
from qportal.accounts.models import AuditEntry, IBMCredential
from qportal.jobs.budgets import window_end
from qportal.jobs.models import Job, JobCircuit, JobEvent
from qportal.jobs.usage_models import Budget, BudgetHold, BudgetWindow, UsageRecord
from tests.circuits import BELL
from tests.test_cloud_jobs import cloud_setup, executors  # noqa: F401 - the fixture

TABLES = (Job, JobCircuit, JobEvent, UsageRecord, Budget, BudgetWindow, BudgetHold, AuditEntry)


def job_body(team, profile="cloud", shots=1000, **extra) -> dict:
    return {"profile": profile, "team": team.id, "circuits": [{"qasm": BELL}], "shots": shots, **extra}


def bell_estimate(shots: int) -> float:
    """The README's method worked by hand for the Bell circuit on ibm_manila (FakeManila's target):
    h (two sx pulses) on q0, then cx on q0,q1, then both measured at once."""
    target, rep_delay = backend_target("ibm_manila")

    def mean(name):
        values = [p.duration for p in target[name].values() if p is not None and p.duration is not None]
        return sum(values) / len(values)

    one_shot = 2 * mean("sx") + mean("cx") + mean("measure")
    seconds = 2.0 + shots * (one_shot + rep_delay)
    return int(-(-round(seconds * 1000, 6) // 1)) / 1000  # rounded up to the millisecond


def window(team) -> BudgetWindow:
    return BudgetWindow.objects.get(budget__team=team, budget__user=None)


def test_local_job_records_wall_and_cpu_seconds_once(api_for, users, run_jobs, client):
    api = api_for("alice")
    resp = api.post("/jobs", job_body(users["lab"], profile="local", shots=20000))
    assert resp.status_code == 201, resp.content
    run_jobs()
    job = api.get(f"/jobs/{resp.json()['id']}").json()
    assert job["status"] == "done"
    used = job["usage"]
    assert set(used) == {"wall_seconds", "cpu_seconds"}
    assert 0 < used["wall_seconds"] < 60 and 0 <= used["cpu_seconds"] < 60
    [row] = UsageRecord.objects.filter(job_id=job["id"])
    assert (row.wall_seconds, row.cpu_seconds, row.qpu_seconds) == (used["wall_seconds"], used["cpu_seconds"], None)
    assert (row.username, row.profile, row.kind, row.status) == ("alice", "local", "local", "done")
    # The exports carry it: the job line of JSON lines, usage_* arrays of the npz; the job page shows it.
    lines = b"".join(api.get(f"/jobs/{job['id']}/download", format="jsonl").streaming_content).splitlines()
    assert json.loads(lines[0])["job"]["usage"] == used
    npz = np.load(io.BytesIO(b"".join(api.get(f"/jobs/{job['id']}/download", format="npz").streaming_content)))
    assert float(npz["usage_wall_seconds"]) == used["wall_seconds"] and "usage_qpu_seconds" not in npz
    client.force_login(users["alice"])
    page = client.get(f"/jobs/{job['id']}/").content.decode()
    assert f'<span data-usage="wall_seconds">{used["wall_seconds"]:.3f}</span> s wall' in page


def test_fake_job_counts_no_qpu_seconds(api_for, users, run_jobs):
    api = api_for("alice")
    resp = api.post("/jobs", job_body(users["lab"], profile="fake_manila", shots=500))
    run_jobs()
    used = api.get(f"/jobs/{resp.json()['id']}").json()["usage"]
    assert "qpu_seconds" not in used and used["wall_seconds"] > 0


def test_cloud_usage_is_what_ibm_reports_and_totals_are_its_sums(api_for, users, standin, executors, run_jobs):  # noqa: F811
    alice, bob = api_for("alice"), api_for("bob")
    cloud_setup(alice, users["lab"], standin)
    ids = {"alice": [], "bob": []}
    for who, api, count in (("alice", alice, 3), ("bob", bob, 2)):
        for _ in range(count):
            resp = api.post("/jobs", job_body(users["lab"]))
            assert resp.status_code == 201, resp.content
            ids[who].append(resp.json()["id"])
    run_jobs()
    charged = standin.usage.charged()  # 1 + n % 4 seconds for the n-th job: 1, 2, 3, 4, 1
    assert sorted(charged.values()) == [1.0, 1.0, 2.0, 3.0, 4.0]
    per_person = {}
    for who, job_ids in ids.items():
        for job_id in job_ids:
            job = alice.get(f"/jobs/{job_id}").json()
            [remote] = job["remote_ids"]
            assert job["usage"]["qpu_seconds"] == charged[remote]
            assert job["usage"]["ibm_estimated_qpu_seconds"] == charged[remote]  # the stand-in's estimate
            assert job["usage"]["estimated_qpu_seconds"] == bell_estimate(1000)
            per_person[who] = per_person.get(who, 0) + charged[remote]
    answer = alice.get("/usage", team=users["lab"].id, group_by="user,profile,backend,day").json()
    assert answer["team"] == users["lab"].id
    assert answer["total"]["qpu_seconds"] == sum(charged.values()) and answer["total"]["jobs"] == 5
    assert {row["key"]: row["qpu_seconds"] for row in answer["groups"]["user"]} == per_person
    assert {row["key"]: row["jobs"] for row in answer["groups"]["user"]} == {"alice": 3, "bob": 2}
    assert [(row["key"], row["qpu_seconds"]) for row in answer["groups"]["backend"]] == [
        ("ibm_manila", sum(charged.values()))
    ]
    assert sum(row["qpu_seconds"] for row in answer["groups"]["day"]) == sum(charged.values())
    # One metrics call per remote job: usage was read once, at the finish.
    assert len(standin.calls_to(r"/jobs/[^/]+/metrics$")) == 5
    csv = alice.get("/usage/export", team=users["lab"].id)
    lines = b"".join(csv.streaming_content).decode().strip().splitlines()
    assert lines[0].startswith("finished,job_id,user,profile,backend,kind,status,qpu_seconds")
    assert sorted(float(line.split(",")[7]) for line in lines[1:]) == sorted(charged.values())


def test_dry_run_answers_the_estimate_and_stores_nothing(api_for, users, standin):
    api = api_for("alice")
    cloud_setup(api, users["lab"], standin)
    api.put("/budgets", {"team": users["lab"].id, "period": "day", "seconds": 100})
    before = {model.__name__: model.objects.count() for model in TABLES}
    resp = api.post("/jobs", job_body(users["lab"], shots=4000, dry_run=True))
    assert resp.status_code == 200, resp.content
    answer = resp.json()
    assert answer["estimated_qpu_seconds"] == bell_estimate(4000)
    source = answer["computed_from"]
    assert (source["backend"], source["durations_from"], source["shots"]) == ("ibm_manila", "target", 4000)
    assert source["rep_delay_seconds"] == 250e-6 and source["job_overhead_seconds"] == 2.0
    assert answer["counts_against_budget"] is True
    assert [b["remaining_seconds"] for b in answer["budgets"]] == [100.0]
    assert {model.__name__: model.objects.count() for model in TABLES} == before
    assert standin.post_count == 0
    # A bad circuit is the same 400 as without dry_run; a fake device is estimated, never counted.
    bad = api.post("/jobs", {**job_body(users["lab"], dry_run=True), "circuits": [{"qasm": "OPENQASM 2.0; nope"}]})
    assert bad.status_code == 400
    fake = api.post("/jobs", job_body(users["lab"], profile="fake_manila", dry_run=True)).json()
    assert fake["counts_against_budget"] is False and fake["estimated_qpu_seconds"] == bell_estimate(1000)
    local = api.post("/jobs", job_body(users["lab"], profile="local", dry_run=True)).json()
    assert local["estimated_qpu_seconds"] is None and local["counts_against_budget"] is False
    assert {model.__name__: model.objects.count() for model in TABLES} == before
    # The OpenAPI docs describe this answer and the 402, and every field of it is documented.
    from qportal.api import api as ninja_api
    from qportal.jobs.usage_schemas import DryRunOut

    for each in (answer, fake, local):
        assert DryRunOut.model_validate(each).model_dump(mode="json") == each
    post = ninja_api.get_openapi_schema()["paths"]["/api/v1/jobs"]["post"]["responses"]
    assert "DryRunOut" in json.dumps(post[200]) and "BudgetRefusalOut" in json.dumps(post[402])


def test_budget_holds_refuses_with_402_and_settles_with_real_usage(api_for, users, standin, executors, run_jobs):  # noqa: F811
    api = api_for("alice")
    lab = users["lab"]
    cloud_setup(api, lab, standin)
    estimate = bell_estimate(1000)
    resp = api.put("/budgets", {"team": lab.id, "period": "week", "seconds": round(3 * estimate, 3)})
    assert resp.status_code == 200, resp.content
    accepted = [api.post("/jobs", job_body(lab)) for _ in range(3)]
    assert [r.status_code for r in accepted] == [201, 201, 201]
    assert (window(lab).held_ms, window(lab).used_ms) == (3 * round(estimate * 1000), 0)
    refused = api.post("/jobs", job_body(lab))
    assert refused.status_code == 402
    body = refused.json()
    assert body["remaining_qpu_seconds"] == 0 and body["estimated_qpu_seconds"] == estimate
    assert "0 s remain" in body["detail"] and "weekly" in body["detail"] and "resets at" in body["detail"]
    assert body["resets_at"] == window_end("week", window(lab).start).isoformat()
    assert int(refused["Retry-After"]) > 0
    from qportal.jobs.usage_schemas import BudgetRefusalOut  # the shape the OpenAPI docs give

    assert set(BudgetRefusalOut.model_validate(body).model_dump()) == set(body)
    assert Job.objects.count() == 3  # nothing of the refused job was written
    standin.usage.configure({"seconds": 1.25})
    run_jobs()
    row = window(lab)
    assert (row.held_ms, row.used_ms) == (0, 3 * 1250)
    assert BudgetHold.objects.filter(settled=True).count() == 3 and not BudgetHold.objects.filter(settled=False)
    # 3 x estimate - 3.75 s is left: one more job fits, the one after it does not.
    assert api.post("/jobs", job_body(lab)).status_code == 201
    assert api.post("/jobs", job_body(lab)).status_code == 402


def test_member_budget_and_cancel_releases_the_hold(api_for, users, standin):
    alice, bob = api_for("alice"), api_for("bob")
    lab = users["lab"]
    cloud_setup(alice, lab, standin)
    estimate = bell_estimate(1000)
    resp = alice.put("/budgets", {"team": lab.id, "period": "month", "seconds": estimate, "user": "bob"})
    assert resp.status_code == 200 and resp.json()["user"] == "bob"
    job = bob.post("/jobs", job_body(lab))
    assert job.status_code == 201
    assert bob.post("/jobs", job_body(lab)).status_code == 402  # bob's own budget is full
    assert alice.post("/jobs", job_body(lab)).status_code == 201  # alice has no budget of her own
    assert bob.post(f"/jobs/{job.json()['id']}/cancel").json()["status"] == "cancelled"
    assert BudgetWindow.objects.get(budget__user=users["bob"]).held_ms == 0
    assert bob.post("/jobs", job_body(lab)).status_code == 201  # the cancelled job's hold came back


def test_only_owners_set_budgets_and_changes_are_audited(api_for, users):
    lab = users["lab"]
    body = {"team": lab.id, "period": "day", "seconds": 50}
    assert api_for("bob").put("/budgets", body).status_code == 403
    assert api_for("viola").put("/budgets", body).status_code == 403
    assert api_for("charlie").put("/budgets", body).status_code == 404
    assert api_for("charlie").get("/usage", team=lab.id).status_code == 404
    alice = api_for("alice")
    assert alice.put("/budgets", {**body, "period": "year"}).status_code == 400
    assert alice.put("/budgets", {**body, "seconds": -1}).status_code == 400
    assert alice.put("/budgets", {**body, "user": "charlie"}).status_code == 404
    first = alice.put("/budgets", body).json()
    again = alice.put("/budgets", {**body, "seconds": 75}).json()
    assert first["id"] == again["id"] and again["seconds"] == 75 and Budget.objects.count() == 1
    assert alice.delete(f"/teams/{lab.id}/budgets/{first['id']}").status_code == 204
    trail = alice.get(f"/teams/{lab.id}/audit").json()["items"]
    assert [(e["action"], e["target"], e["data"].get("seconds")) for e in trail[:3]] == [
        ("budget.removed", "the team", 75),
        ("budget.set", "the team", 75),
        ("budget.set", "the team", 50),
    ]
    assert trail[1]["data"]["before"] == {"period": "day", "seconds": 50}
    assert api_for("bob").get(f"/teams/{lab.id}/audit").status_code == 403


def test_instance_out_of_seconds_refuses_jobs(api_for, users, standin, client):
    from qportal.accounts import usage_checks

    api = api_for("alice")
    cred = cloud_setup(api, users["lab"], standin)
    standin.usage.configure({"limit": 100, "consumed": 98.5})
    assert usage_checks.refresh_usage(cred["id"]) is True
    stored = IBMCredential.objects.get(id=cred["id"])
    assert stored.usage["usage_remaining_seconds"] == 1.5 and stored.usage["usage_consumed_seconds"] == 98.5
    page = api.get(f"/credentials/{cred['id']}").json()
    assert page["usage"]["usage_remaining_seconds"] == 1.5
    client.force_login(users["alice"])
    html = client.get("/credentials/").content.decode()
    assert 'data-remaining="1.5"' in html and "1.5 s of 100 s left" in html
    refused = api.post("/jobs", job_body(users["lab"]))
    assert refused.status_code == 402
    assert "1.5 QPU seconds left" in refused.json()["detail"]
    assert Job.objects.count() == 0
    standin.usage.configure({"limit": 1000})
    usage_checks.refresh_usage(cred["id"])
    assert api.post("/jobs", job_body(users["lab"])).status_code == 201


def test_usage_periods_and_groupings_are_checked(api_for, users):
    api = api_for("alice")
    lab = users["lab"].id
    assert api.get("/usage", team=lab, period="year").status_code == 400
    assert api.get("/usage", team=lab, group_by="planet").status_code == 400
    assert api.get("/usage", team=lab, period="day", **{"from": "2026-01-01"}).status_code == 400
    answer = api.get("/usage", team=lab, **{"from": "2026-01-01", "to": "2026-01-31"}).json()
    assert answer["total"] == {"jobs": 0, "qpu_seconds": 0.0, "wall_seconds": 0.0, "cpu_seconds": 0.0}


def usage_row(team, user, seconds, finished, profile="cloud", kind="ibm_cloud", backend="ibm_manila"):
    import uuid

    return UsageRecord.objects.create(
        job_id=uuid.uuid4(),
        team=team,
        user=user,
        username=user.username,
        profile=profile,
        backend=backend,
        kind=kind,
        status="done",
        qpu_seconds=seconds,
        finished=finished,
    )


def test_usage_page_totals_chart_budget_form_and_access(users, client):
    from datetime import timedelta

    from django.utils import timezone

    lab, alice, bob = users["lab"], users["alice"], users["bob"]
    today = timezone.now().replace(hour=12)
    yesterday = today - timedelta(days=1)  # in last month on the 1st: the page asks for all time
    usage_row(lab, alice, 2.5, today)
    usage_row(lab, bob, 1.25, today)
    usage_row(lab, alice, 4.0, yesterday)
    client.force_login(alice)
    page = client.get("/usage/", {"team": lab.id, "period": "all"}).content.decode()
    assert 'data-seconds="7.75"' in page and "7.750 s" in page
    assert f'<g class="bar" data-day="{today.date().isoformat()}" data-total="3.75">' in page
    assert 'data-user="alice" data-seconds="2.5"' in page and 'data-user="bob" data-seconds="1.25"' in page
    assert 'id="budget-form"' in page
    resp = client.post("/usage/budgets/", {"team": lab.id, "period": "week", "seconds": "30", "user": "bob"})
    assert resp.status_code == 302
    page = client.get("/usage/", {"team": lab.id}).content.decode()
    assert 'data-budget="bob"' in page and "budget.set · bob: 30.0 s per week" in page
    csv = (
        b"".join(client.get("/usage/export.csv", {"team": lab.id, "period": "all"}).streaming_content)
        .decode()
        .splitlines()
    )
    assert len(csv) == 4 and sum(float(line.split(",")[7]) for line in csv[1:]) == 7.75

    day = today.date().isoformat()
    page = client.get("/usage/", {"team": lab.id, "from": day, "to": day}).content.decode()
    assert 'data-seconds="3.75"' in page and f"export.csv?team={lab.id}&amp;from={day}&amp;to={day}" in page
    assert client.get("/usage/", {"team": lab.id, "from": "2026-13-01"}).status_code == 404

    client.force_login(bob)
    page = client.get("/usage/", {"team": lab.id}).content.decode()
    assert 'id="budget-form"' not in page and "budget.set" not in page
    client.post("/usage/budgets/", {"team": lab.id, "period": "day", "seconds": "1"})
    assert Budget.objects.get().seconds == 30  # bob may not change it
    client.force_login(users["charlie"])
    assert client.get("/usage/", {"team": lab.id}).status_code == 404
    assert client.get("/usage/export.csv", {"team": lab.id}).status_code == 404


def test_a_failed_ibm_job_is_charged_what_ibm_billed(api_for, users, standin, executors, run_jobs):  # noqa: F811
    api = api_for("alice")
    lab = users["lab"]
    cloud_setup(api, lab, standin)
    api.put("/budgets", {"team": lab.id, "period": "day", "seconds": 50})
    standin.usage.configure({"seconds": 0.75})
    standin.fail_next(1517, "Job failed on the backend.")
    job_id = api.post("/jobs", job_body(lab)).json()["id"]
    run_jobs()
    job = api.get(f"/jobs/{job_id}").json()
    assert job["status"] == "failed" and "failed on the backend" in job["error"]
    [row] = UsageRecord.objects.filter(job_id=job_id)
    assert (row.status, row.qpu_seconds) == ("failed", 0.75) and job["usage"]["qpu_seconds"] == 0.75
    assert (window(lab).held_ms, window(lab).used_ms) == (0, 750)


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_the_worker_refreshes_the_instance_usage_of_valid_credentials_once_per_interval(api_for, users, standin):
    import asyncio

    from asgiref.sync import async_to_sync

    from qportal.jobs.worker import JobRunner

    api = api_for("alice")
    cred = cloud_setup(api, users["lab"], standin)  # valid, as after the background check
    standin.usage.configure({"limit": 600, "consumed": 12})

    async def timer_tick():
        runner = JobRunner(worker_id="usage-test")
        await runner.check_credentials()
        await asyncio.gather(*runner._background)

    async_to_sync(timer_tick)()
    shown = api.get(f"/credentials/{cred['id']}").json()
    assert shown["usage"] == {
        "usage_consumed_seconds": 12.0,
        "usage_limit_seconds": 600.0,
        "usage_remaining_seconds": 588.0,
        "usage_limit_reached": False,
    }
    assert shown["usage_checked_at"]
    calls = len(standin.calls_to(r"/instances/usage$"))
    async_to_sync(timer_tick)()  # within the interval: not read again
    assert len(standin.calls_to(r"/instances/usage$")) == calls
    # once the interval (QPORTAL_INSTANCE_USAGE_REFRESH_SECONDS) has passed it is read again
    standin.usage.configure({"consumed": 20})
    checked = IBMCredential.objects.get(id=cred["id"]).usage_checked_at
    with override_settings(INSTANCE_USAGE_REFRESH_SECONDS=60):
        IBMCredential.objects.filter(id=cred["id"]).update(usage_checked_at=checked - timedelta(seconds=59))
        async_to_sync(timer_tick)()
        assert len(standin.calls_to(r"/instances/usage$")) == calls
        IBMCredential.objects.filter(id=cred["id"]).update(usage_checked_at=checked - timedelta(seconds=61))
        async_to_sync(timer_tick)()
    assert len(standin.calls_to(r"/instances/usage$")) == calls + 1
    assert api.get(f"/credentials/{cred['id']}").json()["usage"]["usage_consumed_seconds"] == 20.0


def test_ibms_estimate_is_recorded_once_the_job_is_submitted(api_for, users, standin, executors, client):  # noqa: F811
    import asyncio

    from asgiref.sync import async_to_sync, sync_to_async

    from qportal.jobs.worker import JobRunner

    api = api_for("alice")
    cloud_setup(api, users["lab"], standin)
    standin.usage.configure({"seconds": 2.5})
    standin.hold()  # the IBM job stays queued until released
    job_id = api.post("/jobs", job_body(users["lab"])).json()["id"]
    runner = JobRunner(worker_id="w1")
    seen = {}

    async def run_while_queued():
        await runner.sweep()
        for _ in range(400):
            told = JobEvent.objects.filter(job_id=job_id, kind="estimate")
            if await sync_to_async(told.exists)():
                break
            await asyncio.sleep(0.05)
        seen["job"] = await sync_to_async(lambda: api.get(f"/jobs/{job_id}").json())()
        await sync_to_async(client.force_login)(users["alice"])
        seen["page"] = (await sync_to_async(client.get)(f"/jobs/{job_id}/")).content.decode()
        standin.release()
        await asyncio.wait(list(runner.tasks.values()), timeout=60)

    async_to_sync(run_while_queued)()
    running = seen["job"]
    assert running["status"] == "running" and running["remote_ids"]
    assert running["usage"] == {"estimated_qpu_seconds": bell_estimate(1000), "ibm_estimated_qpu_seconds": 2.5}
    assert "IBM&#x27;s estimate 2.500 s" in seen["page"] or "IBM's estimate 2.500 s" in seen["page"]
    done = api.get(f"/jobs/{job_id}").json()
    assert done["status"] == "done"
    assert (done["usage"]["qpu_seconds"], done["usage"]["ibm_estimated_qpu_seconds"]) == (2.5, 2.5)
    assert UsageRecord.objects.get(job_id=job_id).ibm_estimated_qpu_seconds == 2.5
    kinds = list(JobEvent.objects.filter(job_id=job_id).order_by("seq").values_list("kind", flat=True))
    assert kinds.count("estimate") == 1 and kinds.index("estimate") < kinds.index("done")


def billed_ibm_job(api, lab, standin, seconds: float) -> str:
    """A job on the stand-in's IBM whose job runs (and bills ``seconds``) until it is cancelled,
    under a day budget of 50 s; its id."""
    cloud_setup(api, lab, standin)
    api.put("/budgets", {"team": lab.id, "period": "day", "seconds": 50})
    standin.usage.configure({"seconds": seconds})
    standin.job_delay = 30
    return api.post("/jobs", job_body(lab)).json()["id"]


def run_until_running_then_kill(job_id: str) -> None:
    """A worker runs the job until it is marked running, then dies as under a kill: its task is
    cancelled, its lease stays and it writes nothing more."""
    import asyncio

    from asgiref.sync import async_to_sync, sync_to_async

    from qportal.jobs.worker import JobRunner

    doomed = JobRunner(worker_id="dies")

    async def run_then_die():
        await doomed.sweep()
        for _ in range(400):
            if await sync_to_async(JobEvent.objects.filter(job_id=job_id, kind="running").exists)():
                break
            await asyncio.sleep(0.05)
        for task in doomed.tasks.values():
            task.cancel()
        await asyncio.sleep(0.1)

    async_to_sync(run_then_die)()


@pytest.mark.parametrize("when", ["submitting", "running"])
def test_a_job_an_owner_fails_while_it_runs_on_ibm_is_charged_what_ibm_billed(api_for, users, standin, executors, when):  # noqa: F811
    """The owner's fail ends the job and releases its hold at once; the worker then stops the IBM
    job and records what IBM billed for the time it ran, once, against the budget it had held.
    ``submitting``: the fail lands while IBM's answer to the submit is on its way (the job runs on
    IBM, the portal has not marked it running); ``running``: after the portal marked it running."""
    import asyncio

    from asgiref.sync import async_to_sync, sync_to_async

    from qportal.jobs.worker import JobRunner

    api = api_for("alice")
    lab = users["lab"]
    if when == "submitting":
        standin.slow(r"/jobs$", 2, times=1, method="POST", after=True)
    job_id = billed_ibm_job(api, lab, standin, 0.75)
    runner = JobRunner(worker_id="w1", lease_seconds=3)

    def ready() -> bool:
        if when == "submitting":
            return any(job.status == "Running" for job in standin.jobs.values())
        return JobEvent.objects.filter(job_id=job_id, kind="running").exists()

    async def fail_while_running():
        await runner.sweep()
        for _ in range(400):
            if await sync_to_async(ready)():
                break
            await asyncio.sleep(0.05)
        marked = await sync_to_async(JobEvent.objects.filter(job_id=job_id, kind="running").exists)()
        assert marked == (when == "running")
        failed = await sync_to_async(api.post)(f"/jobs/{job_id}/fail", {"reason": "stuck"})
        assert failed.status_code == 200, failed.content
        held = await sync_to_async(lambda: (window(lab).held_ms, window(lab).used_ms))()
        assert held == (0, 0)  # released at once
        if runner.tasks:  # the worker may have stopped already, told by the cancel notice
            await asyncio.wait(list(runner.tasks.values()), timeout=60)

    async_to_sync(fail_while_running)()
    [remote] = standin.jobs.values()
    assert remote.status == "Cancelled" and standin.usage.charged() == {remote.id: 0.75}
    job = api.get(f"/jobs/{job_id}").json()
    assert job["status"] == "failed" and "failed by alice: stuck" in job["error"]
    [row] = UsageRecord.objects.filter(job_id=job_id)
    assert (row.status, row.qpu_seconds, row.username) == ("failed", 0.75, "alice")
    assert (window(lab).held_ms, window(lab).used_ms) == (0, 750)
    assert api.get("/usage", team=lab.id).json()["total"]["qpu_seconds"] == 0.75


def test_a_cancel_its_dead_worker_never_acted_on_is_charged_what_ibm_billed(api_for, users, standin, executors):  # noqa: F811
    """The worker running an IBM job dies; the job is cancelled meanwhile. The worker that takes
    the job over cancels the IBM job and records what IBM billed for the time it ran."""
    from asgiref.sync import async_to_sync
    from django.utils import timezone

    from qportal.jobs.worker import JobRunner

    api = api_for("alice")
    lab = users["lab"]
    job_id = billed_ibm_job(api, lab, standin, 1.5)
    run_until_running_then_kill(job_id)
    assert api.post(f"/jobs/{job_id}/cancel").status_code == 200
    Job.objects.filter(id=job_id).update(lease_until=timezone.now())  # the dead worker's lease ran out
    async_to_sync(JobRunner(worker_id="takes-over").run_until_idle)(60)
    [remote] = standin.jobs.values()
    assert remote.status == "Cancelled" and standin.usage.charged() == {remote.id: 1.5}
    job = api.get(f"/jobs/{job_id}").json()
    assert job["status"] == "cancelled" and job["attempt"] == 2 and job["usage"]["qpu_seconds"] == 1.5
    assert UsageRecord.objects.get(job_id=job_id).qpu_seconds == 1.5
    assert (window(lab).held_ms, window(lab).used_ms) == (0, 1500)


def test_an_ibm_job_an_owner_failed_while_its_dead_worker_held_it_is_stopped(api_for, users, standin, executors):  # noqa: F811
    """No live worker holds the job when the owner fails it: after two leases another worker's
    loop (``qportal.jobs.abandoned``) cancels the IBM job and records IBM's bill, once."""
    from asgiref.sync import async_to_sync
    from django.utils import timezone

    from qportal.jobs import abandoned
    from qportal.jobs.worker import JobRunner

    api = api_for("alice")
    lab = users["lab"]
    job_id = billed_ibm_job(api, lab, standin, 2.25)
    run_until_running_then_kill(job_id)
    assert api.post(f"/jobs/{job_id}/fail", {"reason": "worker gone"}).status_code == 200
    [remote] = standin.jobs.values()
    assert remote.status == "Running"  # nobody told IBM
    other = JobRunner(worker_id="other", lease_seconds=5)
    assert async_to_sync(abandoned.sweep)(other) == 0  # within the grace period: a live worker would act
    Job.objects.filter(id=job_id).update(finished_at=timezone.now() - timedelta(seconds=11))
    assert async_to_sync(abandoned.sweep)(other) == 1
    assert remote.status == "Cancelled" and standin.usage.charged() == {remote.id: 2.25}
    [row] = UsageRecord.objects.filter(job_id=job_id)
    assert (row.status, row.qpu_seconds) == ("failed", 2.25)
    assert (window(lab).held_ms, window(lab).used_ms) == (0, 2250)
    Job.objects.filter(id=job_id).update(lease_until=None)
    assert async_to_sync(abandoned.sweep)(other) == 0  # recorded: never again
    assert api.get(f"/jobs/{job_id}").json()["status"] == "failed"
