"""Whole-job downloads hold exactly the stored results and are read a batch of circuits at a time."""

import csv
import io
import json
import warnings
import zipfile

import numpy as np
import pytest
from asgiref.sync import sync_to_async
from django.db import connection

from executors.base import CircuitResult
from qportal.accounts.models import ApiKey
from qportal.jobs import downloads, queries
from tests.circuits import BELL, GHZ3
from tests.test_handler import app, call  # noqa: F401 - the ASGI app fixture

WIDE = 'OPENQASM 2.0;\ninclude "qelib1.inc";\nqreg q[1];\ncreg c[70];\nx q[0];\nmeasure q[0] -> c[69];\n'


def stored_job(api, run_jobs, circuits, shots=300):
    job_id = api.post("/jobs", {"profile": "local", "circuits": circuits, "shots": shots}).json()["id"]
    run_jobs()
    return job_id


@pytest.mark.django_db
def test_jsonl_is_the_job_then_each_circuit_as_the_result_pages_give_it(api_for, run_jobs, monkeypatch):
    monkeypatch.setattr(downloads, "BATCH", 2)
    api = api_for("alice")
    job_id = stored_job(api, run_jobs, [{"qasm": BELL}, {"qasm": GHZ3}] * 3 + [{"qasm": BELL}])
    statements = []

    def record(execute, sql, params, many, context):
        statements.append(sql)
        return execute(sql, params, many, context)

    with connection.execute_wrapper(record):
        resp = api.get(f"/jobs/{job_id}/download", format="jsonl")
        assert resp.status_code == 200 and resp.streaming and resp["Content-Type"] == "application/x-ndjson"
        lines = [json.loads(line) for line in resp.getvalue().decode().splitlines()]
    assert lines[0]["job"]["id"] == job_id and lines[0]["job"]["num_circuits"] == 7
    assert lines[1:] == json.loads(json.dumps(api.results(job_id)))
    circuit_reads = [sql for sql in statements if '"jobs_jobcircuit"' in sql]
    assert len(circuit_reads) == 4  # 7 circuits two at a time: 2, 2, 2, 1
    assert all('"source"' not in sql for sql in circuit_reads)


@pytest.mark.django_db
def test_csv_rows_are_every_outcome_of_every_circuit(api_for, run_jobs):
    api = api_for("alice")
    job_id = stored_job(api, run_jobs, [{"qasm": BELL, "name": "bell"}, {"qasm": GHZ3}])
    rows = list(csv.DictReader(io.StringIO(api.get(f"/jobs/{job_id}/download", format="csv").getvalue().decode())))
    results = api.results(job_id)
    for result in results:
        mine = [r for r in rows if int(r["circuit"]) == result["index"]]
        assert {r["bitstring"]: int(r["count"]) for r in mine} == result["counts"]
        assert all(r["circuit_name"] == result["name"] for r in mine)
        assert all(abs(float(r["probability"]) - result["probabilities"][r["bitstring"]]) < 1e-6 for r in mine)
    assert len(rows) == sum(len(r["counts"]) for r in results)


@pytest.mark.django_db
def test_npz_loads_in_numpy_with_the_same_counts(api_for, run_jobs):
    api = api_for("alice")
    job_id = stored_job(api, run_jobs, [{"qasm": BELL}, {"qasm": GHZ3, "name": "ghz"}, {"qasm": WIDE}], shots=200)
    blob = api.get(f"/jobs/{job_id}/download", format="npz").getvalue()
    assert zipfile.ZipFile(io.BytesIO(blob)).testzip() is None
    data = np.load(io.BytesIO(blob))
    assert list(data["index"]) == [0, 1, 2] and list(data["name"]) == ["", "ghz", ""]
    assert list(data["num_qubits"]) == [2, 3, 1]
    for result in api.results(job_id)[:2]:
        i = result["index"]
        width = len(next(iter(result["counts"])))
        pairs = zip(data[f"c{i}_outcomes"], data[f"c{i}_counts"], strict=True)
        got = {format(int(v), f"0{width}b"): int(n) for v, n in pairs}
        assert got == result["counts"] and data[f"c{i}_outcomes"].dtype == np.uint64
    wide = dict(zip(data["c2_outcomes"], data["c2_counts"].tolist(), strict=True))
    assert wide == {"1" + "0" * 69: 200}  # wider than 64 bits: strings


@pytest.mark.django_db
def test_estimator_downloads_hold_the_values(api_for, run_jobs):
    api = api_for("alice")
    body = {
        "profile": "local",
        "primitive": "estimator",
        "circuits": [{"qasm": BELL.replace("measure q -> c;\n", "")}],
        "observables": [["ZZ", "XI"]],
        "shots": 2000,
    }
    job_id = api.post("/jobs", body).json()["id"]
    run_jobs()
    (result,) = api.results(job_id)
    rows = list(csv.DictReader(io.StringIO(api.get(f"/jobs/{job_id}/download", format="csv").getvalue().decode())))
    assert [(r["observable"], float(r["ev"])) for r in rows] == list(zip(["ZZ", "XI"], result["evs"], strict=True))
    data = np.load(io.BytesIO(api.get(f"/jobs/{job_id}/download", format="npz").getvalue()))
    assert list(data["c0_evs"]) == result["evs"] and list(data["c0_stds"]) == result["stds"]


@pytest.mark.django_db
def test_an_unknown_format_is_a_400_and_another_teams_job_a_404(api_for, users, run_jobs):
    job_id = stored_job(api_for("alice"), run_jobs, [{"qasm": BELL}])
    resp = api_for("alice").get(f"/jobs/{job_id}/download", format="xlsx")
    assert resp.status_code == 400 and "unknown format 'xlsx'" in resp.json()["detail"]
    assert api_for("charlie").get(f"/jobs/{job_id}/download").status_code == 404


@pytest.mark.django_db
def test_a_job_with_no_results_yet_downloads_its_empty_circuits(api_for):
    api = api_for("alice")
    job_id = api.post("/jobs", {"profile": "local", "circuits": [{"qasm": BELL}]}).json()["id"]
    lines = api.get(f"/jobs/{job_id}/download").getvalue().decode().splitlines()
    assert len(lines) == 2 and json.loads(lines[1])["done"] is False and json.loads(lines[1])["counts"] is None
    data = np.load(io.BytesIO(api.get(f"/jobs/{job_id}/download", format="npz").getvalue()))
    assert list(data["index"]) == [0] and "c0_counts" not in data


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
async def test_under_asgi_the_download_streams_from_an_async_iterator(app, users):  # noqa: F811
    """Django lists a sync iterator whole before sending it under ASGI: the stream must be async."""
    job_id = await sync_to_async(_stored_job_for)(users["alice"])
    _, key = await sync_to_async(ApiKey.issue)(users["alice"])
    auth = [(b"authorization", f"Bearer {key}".encode())]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # "StreamingHttpResponse must consume synchronous iterators"
        answer = await call(app, "GET", f"/api/v1/jobs/{job_id}/download", headers=auth, query=b"format=jsonl")
    assert answer["status"] == 200, answer["body"]
    lines = answer["body"].decode().splitlines()
    assert json.loads(lines[0])["job"]["id"] == str(job_id)
    assert [json.loads(line)["counts"] for line in lines[1:]] == [{"00": 3, "11": 4}, {"000": 5}]


def _stored_job_for(user):
    from qportal.jobs.services import Submission, submit_job

    job = submit_job(user, Submission(profile="local", circuits=[{"qasm": BELL}, {"qasm": GHZ3}], shots=7))
    queries.save_results(
        job.id, [CircuitResult(index=0, counts={"00": 3, "11": 4}), CircuitResult(1, counts={"000": 5})]
    )
    return job.id
