"""Tiny requests that would build huge circuits are refused before any parser runs.

Each probe was measured before this check (issue 16): ``qreg q[20000000];`` took 20 s and 4.1 GB
in the request thread; a forged QPY header 12 s and 1 GB; 50,000 nested gate definitions 80 s and
~10 GB; a 654-byte source expanding to 2^18 gates 33 s and 3.4 GB in transpile. Now each is a 400
naming the limit, answered in well under a second with the process's memory barely moved, and the
job table is untouched.
"""

from __future__ import annotations

import base64
import io
import struct
import time

import pytest
from qiskit import qpy

from qportal.jobs.models import Job
from tests.circuits import BELL, bell
from tests.hostile.memory import PeakRSS

HEADER = 'OPENQASM 2.0;\ninclude "qelib1.inc";\n'
MiB = 1024 * 1024


def forged_qpy(num_qubits: int) -> str:
    """A real one-circuit QPY file whose circuit header claims ``num_qubits`` qubits."""
    buffer = io.BytesIO()
    qpy.dump(bell(), buffer)
    raw = bytearray(buffer.getvalue())
    version = raw[6]
    offset = struct.calcsize("!6sBBBBQ" + ("c" if version >= 10 else "")) + 1
    if version >= 16:
        (offset,) = struct.unpack_from("!Q", raw, offset)
    struct.pack_into("!I", raw, offset + struct.calcsize("!H1cH"), num_qubits)
    return base64.b64encode(bytes(raw)).decode()


def doubling_chain(levels: int) -> str:
    """A short source whose last gate expands to 2**levels gates."""
    gates = "gate g0 a { h a; }\n" + "".join(f"gate g{i} a {{ g{i - 1} a; g{i - 1} a; }}\n" for i in range(1, levels))
    return HEADER + "qreg q[1];\ncreg c[1];\n" + gates + f"g{levels - 1} q[0];\nmeasure q -> c;\n"


def nested_chain(levels: int) -> str:
    gates = "gate g0 a { h a; }\n" + "".join(f"gate g{i} a {{ g{i - 1} a; }}\n" for i in range(1, levels))
    return HEADER + "qreg q[1];\ncreg c[1];\n" + gates + f"g{levels - 1} q[0];\nmeasure q -> c;\n"


OQ3 = 'OPENQASM 3.0;\ninclude "stdgates.inc";\nqubit[2] q;\nbit[2] c;\n'
PROBES = {
    "qreg 20M": ({"qasm": HEADER + "qreg q[20000000];\ncreg c[1];\nh q;\nmeasure q[0] -> c[0];\n"}, "qubits"),
    "qreg 100M": ({"qasm": HEADER + "qreg q[100000000];\ncreg c[1];\nh q;\nmeasure q[0] -> c[0];\n"}, "qubits"),
    "qreg 10^30": ({"qasm": HEADER + "qreg q[" + "9" * 30 + "];\n"}, "qubits"),
    "creg 100M": ({"qasm": HEADER + "qreg q[1];\ncreg c[100000000];\nmeasure q[0] -> c[0];\n"}, "classical bits"),
    "many qregs": ({"qasm": HEADER + "".join(f"qreg q{i}[20];\n" for i in range(5000))}, "qubits"),
    "qpy 5M qubits": ({"qpy": forged_qpy(5_000_000)}, "qubits"),
    "2^18 gates": ({"qasm": doubling_chain(19)}, "operations"),
    "50k nested": ({"qasm": nested_chain(50_000)}, "nest"),
    "oq3 qubit 20M": ({"qasm": OQ3.replace("qubit[2]", "qubit[20000000]")}, "qubits"),
    "oq3 for": ({"qasm": OQ3 + "for uint i in [0:1] { h q[i]; }\nc = measure q;\n"}, "'for' loops"),
    "oq3 while": ({"qasm": OQ3 + "while (c[0] == false) { h q[0]; c[0] = measure q[0]; }\n"}, "'while' loops"),
    "oq3 too long": ({"qasm": OQ3 + "h q[0];\n" * 8000 + "c = measure q;\n"}, "characters of OpenQASM 3"),
    "broadcast": (
        {"qasm": HEADER + "qreg q[25];\ncreg c[25];\n" + "h q;\n" * 5000 + "measure q -> c;\n"},
        "operations",
    ),
}


@pytest.mark.parametrize("probe", PROBES, ids=list(PROBES))
def test_oversized_source_is_refused_before_it_is_built(api_for, probe):
    circuit, reason = PROBES[probe]
    api = api_for("bob")
    with PeakRSS() as peak:
        started = time.perf_counter()
        resp = api.post("/jobs", {"profile": "local", "circuits": [circuit], "shots": 10})
        elapsed = time.perf_counter() - started
    assert resp.status_code == 400, resp.content
    assert reason in resp.json()["detail"], resp.json()
    assert elapsed < 1.0, f"{probe}: {elapsed:.2f} s"
    assert peak.growth < 64 * MiB, f"{probe}: +{peak.growth / MiB:.0f} MiB"
    assert not Job.objects.exists()


def test_a_job_of_many_copies_is_bounded_by_its_total(api_for, settings):
    settings.MAX_JOB_OPERATIONS = 50_000
    body = HEADER + "qreg q[2];\ncreg c[2];\n" + "cx q[0],q[1];\n" * 99 + "measure q -> c;\n"
    resp = api_for("bob").post("/jobs", {"profile": "local", "circuits": [{"qasm": body}] * 1000, "shots": 1})
    assert resp.status_code == 400 and "50000 operations in all" in resp.json()["detail"]
    assert not Job.objects.exists()


def test_backend_limit_is_named_before_parsing(api_for):
    resp = api_for("bob").post(
        "/jobs", {"profile": "fake_manila", "circuits": [{"qasm": HEADER + "qreg q[6];\nh q;\n"}], "shots": 10}
    )
    assert resp.status_code == 400
    assert resp.json()["detail"] == "circuit 0 uses 6 qubits but fake_manila has 5"


def test_circuits_within_the_limits_still_run(api_for, run_jobs):
    api = api_for("bob")
    sources = [{"qasm": BELL}, {"qasm": doubling_chain(10)}, {"qasm": nested_chain(60)}, {"qpy": forged_qpy(2)}]
    resp = api.post("/jobs", {"profile": "local", "circuits": sources, "shots": 200})
    assert resp.status_code == 201, resp.content
    run_jobs()
    job = api.job_with_results(resp.json()["id"])
    assert job["status"] == "done", job
    assert set(job["results"][0]["counts"]) == {"00", "11"}
    # 2**9 Hadamards on one qubit (an even number) is the identity; so are 60 nested ones... and h once more
    assert job["results"][1]["counts"] == {"0": 200}
    assert set(job["results"][2]["counts"]) <= {"0", "1"}
    assert set(job["results"][3]["counts"]) == {"00", "11"}


@pytest.mark.parametrize(
    "profile, qubits, needs",
    [("local", 30, "a 30-qubit statevector needs about 16 GiB"), ("pennylane", 30, "needs about 16 GiB")],
)
def test_a_state_that_cannot_fit_a_simulator_process_is_refused_with_the_way_out(
    api_for, users, profile, qubits, needs
):
    """30 qubits on ``local`` used to be accepted (the limit came from the machine's RAM) and a
    PennyLane profile had no limit: the child, or the worker itself, was OOM-killed."""
    if profile == "pennylane":
        from qportal.profiles.models import ExecutorProfile

        ExecutorProfile.objects.create(team=users["lab"], name="pennylane", kind="pennylane", backend="default.qubit")
    qasm = HEADER + f"qreg q[{qubits}];\ncreg c[1];\nh q[0];\nmeasure q[0] -> c[0];\n"
    resp = api_for("bob").post(
        "/jobs", {"profile": profile, "circuits": [{"qasm": qasm}], "shots": 10, "team": users["lab"].id}
    )
    assert resp.status_code == 400, resp.content
    detail = resp.json()["detail"]
    assert needs in detail and "a simulator process may use 8 GiB" in detail and "matrix_product_state" in detail
    assert not Job.objects.exists()


def test_the_memory_limit_follows_its_setting(api_for, settings):
    settings.SIM_MEMORY_BYTES = 2**20 * 64  # 64 MiB: 22 qubits of statevector fit, 23 do not
    qasm = HEADER + "qreg q[23];\ncreg c[1];\nh q[0];\nmeasure q[0] -> c[0];\n"
    resp = api_for("bob").post("/jobs", {"profile": "local", "circuits": [{"qasm": qasm}], "shots": 10})
    assert resp.status_code == 400 and "but aer_simulator has 22" in resp.json()["detail"]
    resp = api_for("bob").post("/jobs", {"profile": "local", "circuits": [{"qasm": qasm.replace("[23]", "[22]")}]})
    assert resp.status_code == 201
