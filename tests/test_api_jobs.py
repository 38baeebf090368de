"""The jobs API end to end through the worker: results, bad input, access."""

from __future__ import annotations

import math

import pytest

from qportal.jobs.models import Job, JobCircuit, JobEvent
from tests.circuits import BELL, GHZ3
from tests.stats import assert_counts_match, exact_probabilities


def submit_and_run(api, run_jobs, body):
    resp = api.post("/jobs", body)
    assert resp.status_code == 201, resp.content
    assert resp.json()["status"] == "queued"
    run_jobs()
    job = api.job_with_results(resp.json()["id"])
    assert job["status"] == "done", job
    return job


@pytest.mark.parametrize("qasm", [BELL, GHZ3], ids=["bell", "ghz3"])
def test_local_counts_match_exact_probabilities(api_for, run_jobs, qasm):
    job = submit_and_run(api_for("alice"), run_jobs, {"profile": "local", "circuits": [{"qasm": qasm}], "shots": 4000})
    result = job["results"][0]
    assert sum(result["counts"].values()) == 4000
    assert_counts_match(result["counts"], exact_probabilities(qasm))
    assert math.isclose(sum(result["probabilities"].values()), 1.0)


@pytest.mark.parametrize("qasm", [BELL, GHZ3], ids=["bell", "ghz3"])
def test_fake_manila_counts_match_within_device_noise(api_for, run_jobs, qasm):
    job = submit_and_run(
        api_for("alice"), run_jobs, {"profile": "fake_manila", "circuits": [{"qasm": qasm}], "shots": 4000}
    )
    counts = job["results"][0]["counts"]
    assert sum(counts.values()) == 4000
    # Manila's gate and readout errors move a few percent of the weight to other outcomes
    # (its two-qubit error ~1e-2 per CX and readout ~2-3% per qubit): allow 8 points on top
    # of the 5-sigma statistical bound; a wrong circuit or wrong bit order is far outside it.
    assert_counts_match(counts, exact_probabilities(qasm), slack=0.08)


def test_estimator_matches_exact_expectation_values(api_for, run_jobs):
    theta = 0.7
    qasm = f"""OPENQASM 2.0;
include "qelib1.inc";
qreg q[2];
ry({theta}) q[0];
cx q[0],q[1];
"""
    job = submit_and_run(
        api_for("alice"),
        run_jobs,
        {
            "profile": "local",
            "primitive": "estimator",
            "shots": 4000,
            "circuits": [{"qasm": qasm}],
            "observables": [["ZZ", "XX", "ZI", "IZ"]],
        },
    )
    result = job["results"][0]
    exact = [1.0, math.sin(theta), math.cos(theta), math.cos(theta)]
    for ev, std, want in zip(result["evs"], result["stds"], exact, strict=True):
        assert abs(ev - want) <= 4 * max(std, 1 / math.sqrt(4000)), (ev, std, want)


def test_multi_circuit_job_keeps_order(api_for, run_jobs):
    x_on_q1 = BELL.replace("h q[0];\ncx q[0],q[1];", "x q[1];")
    job = submit_and_run(
        api_for("alice"),
        run_jobs,
        {"profile": "local", "circuits": [{"qasm": x_on_q1}, {"qasm": BELL}], "shots": 500, "tags": ["order"]},
    )
    assert job["results"][0]["counts"] == {"10": 500}  # Qiskit order: c[1] is the left bit
    assert set(job["results"][1]["counts"]) <= {"00", "11"}
    assert [e["seq"] for e in job["events"]] == list(range(1, len(job["events"]) + 1))


BAD_INPUTS = {
    "malformed qasm": (
        {"profile": "local", "circuits": [{"qasm": 'OPENQASM 2.0;\ninclude "qelib1.inc";\nqreg q[2];\nhh q[0];\n'}]},
        400,
        "line 4",
    ),
    "200 qubits on manila": (
        {
            "profile": "fake_manila",
            "circuits": [
                {"qasm": 'OPENQASM 2.0;\ninclude "qelib1.inc";\nqreg q[200];\ncreg c[200];\nmeasure q -> c;\n'}
            ],
        },
        400,
        "uses 200 qubits but fake_manila has 5",
    ),
    "zero shots": ({"profile": "local", "circuits": [{"qasm": BELL}], "shots": 0}, 400, "shots"),
    "absurd shots": ({"profile": "local", "circuits": [{"qasm": BELL}], "shots": 10**9}, 400, "shots"),
    "unknown profile": ({"profile": "no_such_profile", "circuits": [{"qasm": BELL}]}, 404, "no_such_profile"),
    "1001 circuits": ({"profile": "local", "circuits": [{"qasm": BELL}] * 1001}, 400, "1000"),
    "no circuits": ({"profile": "local", "circuits": []}, 400, "at least one"),
    "neither qasm nor qpy": ({"profile": "local", "circuits": [{"name": "x"}]}, 400, "qasm"),
    "bad qpy": ({"profile": "local", "circuits": [{"qpy": "%%%"}]}, 400, "qpy"),
    "shots not a number": ({"profile": "local", "circuits": [{"qasm": BELL}], "shots": "many"}, 422, "shots"),
    "unknown primitive": (
        {"profile": "local", "circuits": [{"qasm": BELL}], "primitive": "annealer"},
        422,
        "primitive",
    ),
    "estimator without observables": (
        {"profile": "local", "circuits": [{"qasm": BELL}], "primitive": "estimator"},
        400,
        "observ",
    ),
}


@pytest.mark.parametrize("case", BAD_INPUTS, ids=list(BAD_INPUTS))
def test_bad_input_is_a_clear_4xx_and_stores_nothing(api_for, case):
    body, status, needle = BAD_INPUTS[case]
    resp = api_for("alice").post("/jobs", body)
    assert resp.status_code == status, resp.content
    detail = resp.json()["detail"]
    assert needle.lower() in str(detail).lower(), detail
    assert Job.objects.count() == 0 and JobCircuit.objects.count() == 0 and JobEvent.objects.count() == 0


def test_no_auth_is_401_and_bad_key_too(api_for):
    assert api_for(None).post("/jobs", {"profile": "local", "circuits": [{"qasm": BELL}]}).status_code == 401
    assert api_for(None).get("/jobs").status_code == 401
    forged = api_for(None)
    forged.headers = {"HTTP_AUTHORIZATION": "Bearer qp_deadbeef_notakey"}
    assert forged.get("/jobs").status_code == 401
    assert Job.objects.count() == 0


def test_other_teams_job_is_404(api_for, users):
    alice = api_for("alice")
    job_id = alice.post("/jobs", {"profile": "local", "circuits": [{"qasm": BELL}], "team": users["lab"].id}).json()[
        "id"
    ]
    charlie = api_for("charlie")
    assert charlie.get(f"/jobs/{job_id}").status_code == 404
    assert charlie.post(f"/jobs/{job_id}/cancel").status_code == 404
    assert charlie.get(f"/jobs/{job_id}/events").status_code == 404
    assert charlie.get("/jobs").json()["count"] == 0
    assert api_for("bob").get(f"/jobs/{job_id}").status_code == 200  # team member sees it
    assert Job.objects.get(id=job_id).status == "queued"


def test_viewer_cannot_submit_or_cancel(api_for, users):
    job_id = (
        api_for("alice")
        .post("/jobs", {"profile": "local", "circuits": [{"qasm": BELL}], "team": users["lab"].id})
        .json()["id"]
    )
    viola = api_for("viola")
    assert viola.get(f"/jobs/{job_id}").status_code == 200
    resp = viola.post("/jobs", {"profile": "local", "circuits": [{"qasm": BELL}], "team": users["lab"].id})
    assert resp.status_code == 403 and "viewer" in resp.json()["detail"]
    assert viola.post(f"/jobs/{job_id}/cancel").status_code == 403
    assert Job.objects.count() == 1


def test_cancel_queued_job_is_idempotent_and_final(api_for, run_jobs):
    api = api_for("alice")
    job_id = api.post("/jobs", {"profile": "local", "circuits": [{"qasm": BELL}]}).json()["id"]
    first = api.post(f"/jobs/{job_id}/cancel")
    second = api.post(f"/jobs/{job_id}/cancel")
    assert first.status_code == second.status_code == 200
    assert first.json()["status"] == second.json()["status"] == "cancelled"
    run_jobs()
    job = api.get(f"/jobs/{job_id}").json()
    assert job["status"] == "cancelled" and job["attempt"] == 0
    assert [e["kind"] for e in job["events"]] == ["queued", "cancelled"]


def test_cancel_finished_job_is_409(api_for, run_jobs):
    api = api_for("alice")
    job_id = api.post("/jobs", {"profile": "local", "circuits": [{"qasm": BELL}]}).json()["id"]
    run_jobs()
    resp = api.post(f"/jobs/{job_id}/cancel")
    assert resp.status_code == 409 and "done" in resp.json()["detail"]


def test_list_filters_and_pagination(api_for, run_jobs):
    api = api_for("alice")
    for i in range(3):
        api.post(
            "/jobs",
            {
                "profile": "local",
                "circuits": [{"qasm": BELL}],
                "tags": ["sweep"] if i else ["other"],
                "name": f"run {i}",
            },
        )
    api.post("/jobs", {"profile": "fake_manila", "circuits": [{"qasm": BELL}], "tags": ["sweep"]})
    assert api.get("/jobs", tag="sweep").json()["count"] == 3
    assert api.get("/jobs", profile="fake_manila").json()["count"] == 1
    assert api.get("/jobs", q="run 2").json()["count"] == 1
    assert api.get("/jobs", status="queued").json()["count"] == 4
    assert api.get("/jobs", status="bogus").status_code == 400
    page = api.get("/jobs", page_size=2).json()
    assert page["count"] == 4 and len(page["items"]) == 2 and page["previous"] is None
    rest = api.get("/jobs", page_size=2, cursor=page["next"]).json()
    assert len(rest["items"]) == 2 and rest["next"] is None and rest["count"] == 4
    assert not {j["id"] for j in page["items"]} & {j["id"] for j in rest["items"]}
    assert api.get("/jobs", created_after="2100-01-01T00:00:00Z").json()["count"] == 0


def test_rerun_creates_linked_job(api_for, run_jobs):
    api = api_for("alice")
    job_id = api.post("/jobs", {"profile": "local", "circuits": [{"qasm": BELL}], "shots": 300, "tags": ["a"]}).json()[
        "id"
    ]
    again = api.post(f"/jobs/{job_id}/rerun")
    assert again.status_code == 201
    assert again.json()["rerun_of"] == job_id and again.json()["shots"] == 300 and again.json()["tags"] == ["a"]


def test_qpy_circuit_runs(api_for, run_jobs):
    import base64
    import io

    from qiskit import QuantumCircuit, qpy

    circuit = QuantumCircuit(1, 1)
    circuit.x(0)
    circuit.measure(0, 0)
    buf = io.BytesIO()
    qpy.dump(circuit, buf)
    job = submit_and_run(
        api_for("alice"),
        run_jobs,
        {"profile": "local", "circuits": [{"qpy": base64.b64encode(buf.getvalue()).decode()}], "shots": 100},
    )
    assert job["results"][0]["counts"] == {"1": 100}


def test_submit_answer_is_the_stored_job_with_one_queued_event(api_for, users, django_assert_max_num_queries):
    alice = api_for("alice")
    body = {"profile": "local", "circuits": [{"qasm": BELL}], "name": "b", "tags": ["x", "y"], "team": users["lab"].id}
    # API key, profile, team, then job + circuits + event in one transaction (no re-read of the job).
    with django_assert_max_num_queries(10):
        resp = alice.post("/jobs", body)
    assert resp.status_code == 201, resp.content
    answered = resp.json()
    stored = alice.get(f"/jobs/{answered['id']}").json()
    assert answered == {k: stored[k] for k in answered}
    assert (answered["team_name"], answered["submitted_by"], answered["last_seq"]) == ("lab", "alice", 1)
    assert [(e["seq"], e["kind"], e["status"]) for e in stored["events"]] == [(1, "queued", "queued")]
    personal = alice.post("/jobs", {"profile": "local", "circuits": [{"qasm": BELL}]}).json()
    assert personal["team_name"] == "alice (personal)" and personal["last_seq"] == 1


def test_a_failed_first_event_leaves_no_job_or_circuits(api_for, monkeypatch):
    """The database refuses the event row (NOT NULL), after the job and circuit rows: none stays."""
    from django.db import IntegrityError

    from qportal import rawsql

    real_insert = rawsql.insert

    def broken(objs):
        if isinstance(objs[0], JobEvent):
            objs[0].kind = None
        return real_insert(objs)

    monkeypatch.setattr(rawsql, "insert", broken)
    with pytest.raises(IntegrityError):
        api_for("alice").post("/jobs", {"profile": "local", "circuits": [{"qasm": BELL}]})
    assert Job.objects.count() == 0 and JobCircuit.objects.count() == 0 and JobEvent.objects.count() == 0


def test_circuit_names_are_the_given_ones_never_qiskits_made_up_counter(api_for):
    named_qasm = 'OPENQASM 3.0;\ninclude "stdgates.inc";\nqubit[1] q;\nbit[1] c;\nh q[0];\nc[0] = measure q[0];\n'
    body = {
        "profile": "local",
        "circuits": [{"qasm": BELL, "name": "bell pair"}, {"qasm": BELL}, {"qasm": named_qasm}],
    }
    resp = api_for("alice").post("/jobs", body)
    assert resp.status_code == 201, resp.content
    names = list(JobCircuit.objects.filter(job_id=resp.json()["id"]).order_by("index").values_list("name", flat=True))
    assert names[0] == "bell pair"
    assert names[1] == "" and names[2] == "", names  # not "circuit-41"


def test_a_repeated_source_is_parsed_once_and_each_circuit_is_its_own(api_for, run_jobs, monkeypatch):
    from qportal.jobs import services

    parsed = []
    parse = services.parse_circuit
    monkeypatch.setattr(services, "parse_circuit", lambda source, index: parsed.append(index) or parse(source, index))
    x_on_q1 = BELL.replace("h q[0];\ncx q[0],q[1];", "x q[1];")
    sources = [{"qasm": BELL}, {"qasm": x_on_q1}, {"qasm": BELL}, {"qasm": BELL, "name": "again"}, {"qasm": x_on_q1}]
    circuits = services._parse_all(sources)
    assert parsed == [0, 1, 3]  # the name makes index 3 a source of its own
    assert circuits[2] == circuits[0] and circuits[2] is not circuits[0] and circuits[4] is not circuits[1]
    assert circuits[3].name == "again" and circuits[0].name != "again"

    job = submit_and_run(api_for("alice"), run_jobs, {"profile": "local", "circuits": sources, "shots": 400})
    counts = [r["counts"] for r in job["results"]]
    assert counts[1] == counts[4] == {"10": 400}
    for index in (0, 2, 3):
        assert_counts_match(counts[index], exact_probabilities(BELL), 400)
    assert [r["name"] for r in job["results"]] == ["", "", "", "again", ""]
