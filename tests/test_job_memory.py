"""Jobs with ``memory``: every shot's outcome kept, packed and compressed, read back in shot order."""

import io
import json
import zipfile
from collections import Counter

import numpy as np
import pytest
from qiskit.primitives import BitArray

from executors.base import CircuitResult
from qportal.jobs import stored_results
from qportal.jobs.models import Job, JobCircuit
from qportal.profiles.models import ExecutorProfile
from tests.circuits import BELL, TWO_REGISTERS

pytestmark = pytest.mark.django_db


def memory_job(api, run_jobs, qasm=BELL, shots=2000, profile="local", memory=True):
    resp = api.post("/jobs", {"profile": profile, "circuits": [{"qasm": qasm}], "shots": shots, "memory": memory})
    assert resp.status_code == 201, resp.content
    assert resp.json()["memory"] is memory
    run_jobs()
    job = api.get(f"/jobs/{resp.json()['id']}").json()
    assert job["status"] == "done", job["error"]
    return job["id"]


def results_with_memory(api, job_id) -> list[dict]:
    page = api.get(f"/jobs/{job_id}/results", memory="true")
    assert page.status_code == 200, page.content
    return page.json()["items"]


def test_a_bell_job_keeps_every_shot_in_order_and_its_tally_is_the_counts(api_for, run_jobs):
    api = api_for("alice")
    job_id = memory_job(api, run_jobs, shots=2000)  # small: sampled from exact probabilities
    (result,) = results_with_memory(api, job_id)
    memory = result["memory"]
    assert result["has_memory"] is True and len(memory) == 2000 and set(memory) <= {"00", "11"}
    assert dict(Counter(memory)) == result["counts"] and result["shots"] == 2000
    assert memory != sorted(memory)  # per shot: 2000 Bell shots come sorted with probability ~2**-2000
    (plain,) = api.results(job_id)  # not asked for: not sent
    assert plain["memory"] is None and plain["has_memory"] is True and plain["counts"] == result["counts"]


def test_the_shots_are_stored_compressed(api_for, run_jobs):
    api = api_for("alice")
    job_id = memory_job(api, run_jobs, shots=10_000)  # Aer's SamplerV2 path
    blob = bytes(JobCircuit.objects.defer(None).get(job_id=job_id).memory_blob)
    # Qiskit's layout is a byte a shot (10 kB); the shots' randomness needs 1.25 kB.
    assert len(blob) < 2_000
    (result,) = results_with_memory(api, job_id)
    assert len(result["memory"]) == 10_000 and dict(Counter(result["memory"])) == result["counts"]


def test_npz_rebuilds_the_bit_array(api_for, run_jobs):
    api = api_for("alice")
    job_id = memory_job(api, run_jobs, shots=1500)
    data = np.load(io.BytesIO(api.get(f"/jobs/{job_id}/download", format="npz").getvalue()))
    assert data["c0_memory"].dtype == np.uint8 and data["c0_memory"].shape == (1500, 1)
    bits = BitArray(data["c0_memory"], int(data["c0_memory_bits"]))
    (result,) = results_with_memory(api, job_id)
    assert bits.get_counts() == result["counts"] and bits.get_bitstrings() == result["memory"]


def test_jsonl_carries_the_shots_only_when_asked_and_csv_never(api_for, run_jobs):
    api = api_for("alice")
    job_id = memory_job(api, run_jobs, shots=300)
    plain = api.get(f"/jobs/{job_id}/download", format="jsonl").getvalue().decode().splitlines()
    assert json.loads(plain[1])["memory"] is None and json.loads(plain[1])["has_memory"] is True
    full = api.get(f"/jobs/{job_id}/download", format="jsonl", memory="true").getvalue().decode().splitlines()
    assert json.loads(full[1]) == results_with_memory(api, job_id)[0]
    refused = api.get(f"/jobs/{job_id}/download", format="csv", memory="true")
    assert refused.status_code == 400 and "jsonl" in refused.json()["detail"]


def test_several_registers_are_joined_as_the_counts_join_them(api_for, run_jobs):
    api = api_for("alice")
    job_id = memory_job(api, run_jobs, qasm=TWO_REGISTERS, shots=400)
    (result,) = results_with_memory(api, job_id)
    memory = result["memory"]
    assert len(memory) == 400 and dict(Counter(memory)) == result["counts"]
    # b then a: register a (x q[0]) is the rightmost bit; b[1] (x q[2]) the leftmost
    assert set(memory) == {"101", "111"}
    assert result["register_counts"]["a"] == {"1": 400}


def test_the_fake_backend_keeps_the_shots(api_for, run_jobs):
    api = api_for("alice")
    job_id = memory_job(api, run_jobs, profile="fake_manila", shots=500)
    (result,) = results_with_memory(api, job_id)
    assert len(result["memory"]) == 500 and dict(Counter(result["memory"])) == result["counts"]
    assert {len(bits) for bits in result["memory"]} == {2}


def test_a_job_without_memory_stores_no_shots(api_for, run_jobs):
    api = api_for("alice")
    job_id = memory_job(api, run_jobs, memory=False, shots=200)
    assert JobCircuit.objects.defer(None).get(job_id=job_id).memory_blob is None
    (result,) = results_with_memory(api, job_id)
    assert result["memory"] is None and result["has_memory"] is False
    data = np.load(io.BytesIO(api.get(f"/jobs/{job_id}/download", format="npz").getvalue()))
    assert "c0_counts" in data.files and "c0_memory" not in data.files


def test_an_estimator_with_memory_is_refused_and_stores_nothing(api_for):
    api = api_for("alice")
    body = {"profile": "local", "circuits": [{"qasm": BELL}], "primitive": "estimator", "observables": ["ZZ"]}
    resp = api.post("/jobs", {**body, "memory": True})
    assert resp.status_code == 400 and "only a sampler" in resp.json()["detail"]
    assert not Job.objects.exists() and not JobCircuit.objects.exists()
    assert api.post("/jobs", {**body, "memory": "maybe"}).status_code == 422


def test_a_pennylane_profile_refuses_memory_at_submission(api_for, users):
    api = api_for("alice")
    lab = users["lab"].id
    assert api.post("/profiles", {"name": "pl", "kind": "pennylane", "backend": "default.qubit"}).status_code == 201
    resp = api.post("/jobs", {"profile": "pl", "circuits": [{"qasm": BELL}], "memory": True})
    assert resp.status_code == 400 and "PennyLane" in resp.json()["detail"]
    for name, kind in (("sim", "local"), ("dev", "pennylane")):
        ExecutorProfile.objects.create(team=users["lab"], name=name, kind=kind, backend="default.qubit")
    pair = {"name": "pair", "kind": "cluster", "members": ["sim", "dev"], "team": lab}
    assert api.post("/profiles", pair).status_code == 201
    resp = api.post("/jobs", {"profile": "pair", "circuits": [{"qasm": BELL}], "memory": True, "team": lab})
    assert resp.status_code == 400 and "'dev'" in resp.json()["detail"]
    assert not Job.objects.exists()


def test_run_again_keeps_memory(api_for, run_jobs):
    api = api_for("alice")
    job_id = memory_job(api, run_jobs, shots=100)
    again = api.post(f"/jobs/{job_id}/rerun")
    assert again.status_code == 201 and again.json()["memory"] is True
    assert Job.objects.get(id=again.json()["id"]).memory is True


def test_the_submit_page_has_keep_every_shot(users, client, run_jobs):
    client.force_login(users["alice"])
    page = client.get("/jobs/new/").content.decode()
    assert 'name="memory"' in page and "Keep every shot" in page
    form = {"profile": "local", "shots": "64", "primitive": "sampler", "qasm": BELL}
    resp = client.post("/jobs/new/", {**form, "memory": "on"})
    assert resp.status_code == 302, resp.content.decode()[:2000]
    job = Job.objects.get()
    assert job.memory is True
    prefilled = client.get(f"/jobs/new/?from={job.id}").content.decode()
    assert 'id="memory" checked' in prefilled
    client.post("/jobs/new/", form)
    assert Job.objects.filter(memory=False).count() == 1


@pytest.mark.parametrize("num_bits", [1, 2, 7, 8, 9, 20, 64, 65])
def test_packed_shots_come_back_exactly(num_bits):
    rng = np.random.default_rng(num_bits)
    width = -(-num_bits // 8)
    rows = rng.integers(0, 256, size=(333, width), dtype=np.uint8)
    rows[:, 0] &= (1 << (num_bits - 8 * (width - 1))) - 1  # Qiskit keeps the padding bits 0
    blob = stored_results.pack_memory(rows.tobytes(), num_bits, 333)
    array, bits = stored_results.unpack_memory(blob)
    assert bits == num_bits and array.dtype == np.uint8 and np.array_equal(array, rows)
    assert stored_results.memory_bitstrings(blob) == BitArray(rows, num_bits).get_bitstrings()


def test_row_values_store_the_shots_only_when_given():
    shots = BitArray.from_samples(["01", "10", "10"], 2)
    values = stored_results.row_values(
        CircuitResult(index=0, shots=3, counts={"01": 1, "10": 2}, memory=shots.array.tobytes(), memory_bits=2)
    )
    assert stored_results.memory_bitstrings(values["memory_blob"]) == ["01", "10", "10"]
    assert stored_results.row_values(CircuitResult(index=0, counts={"0": 1}))["memory_blob"] is None
    with pytest.raises(ValueError, match="not a stored memory blob"):
        stored_results.unpack_memory(b"Q1" + bytes(8))


def test_results_pages_without_memory_never_read_the_blobs(api_for, run_jobs):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    api = api_for("alice")
    job_id = memory_job(api, run_jobs, shots=100)
    with CaptureQueriesContext(connection) as queries:
        api.results(job_id)
    reads = [q["sql"] for q in queries if '"jobs_jobcircuit"' in q["sql"] and "COUNT(*)" not in q["sql"]]
    reads = [sql for sql in reads if not sql.startswith('SELECT "jobs_jobcircuit"."outcomes"')]  # the page's size
    assert len(reads) == 1 and '"memory_blob" IS NOT NULL' in reads[0]  # has_memory, from the database
    assert '"jobs_jobcircuit"."memory_blob",' not in reads[0]
    assert zipfile.is_zipfile(io.BytesIO(api.get(f"/jobs/{job_id}/download", format="npz").getvalue()))
