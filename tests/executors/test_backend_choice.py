"""executors.backend_choice on fake backends with different (and patched) noise and queues, and the
cluster's least_busy selector reading the backends' own queues."""

from __future__ import annotations

import copy

import pytest
from qiskit.transpiler import InstructionProperties
from qiskit_ibm_runtime.models import BackendStatus

from executors.backend_choice import choose_backend, estimated_success, fake_candidates
from executors.base import ExecutorSpec, InvalidRequest
from executors.cluster import ClusterExecutor
from executors.fake_backend import FakeBackendExecutor, fake_backend
from executors.runtime import transpile_to_isa
from tests.circuits import bell, ghz


def transpile(circuits, backend):
    return transpile_to_isa(circuits, backend, 2, seed=3)


def renamed(name: str, base: str = "fake_manila", *, error: float | None = None, pending: int = 0, up: bool = True):
    """A copy of a fake backend under another name: every instruction's error set to ``error`` (if
    given) and its status reporting ``pending`` jobs."""
    backend = copy.deepcopy(fake_backend(base))
    backend.name = name
    if error is not None:
        for op in backend.target.operation_names:
            for qargs, props in (backend.target[op] or {}).items():
                if props is not None and qargs is not None:
                    backend.target.update_instruction_properties(
                        op, qargs, InstructionProperties(duration=props.duration, error=error)
                    )
    status = BackendStatus(name, "1", up, pending, "active" if up else "maintenance")
    backend.status = lambda: status
    return backend


def test_estimated_success_is_the_product_of_the_calibrated_fidelities():
    backend = fake_backend("fake_manila")
    (isa,) = transpile([bell()], backend)
    props = backend.properties()  # the calibration as a BackendProperties record: another path to it
    expected = 1.0
    for instruction in isa.data:
        name = instruction.operation.name
        qubits = [isa.find_bit(q).index for q in instruction.qubits]
        if name == "measure":
            expected *= 1 - props.readout_error(qubits[0])
        elif name not in ("barrier", "rz", "delay"):
            expected *= 1 - props.gate_error(name, qubits)
    assert estimated_success(isa, backend.target) == pytest.approx(expected, rel=1e-9)
    assert 0.8 < expected < 0.99


def test_least_noisy_picks_the_highest_estimated_success_and_says_why():
    backends = [renamed("b_noisy", error=0.05), renamed("c_clean", error=0.0), fake_backend("fake_lima")]
    choice = choose_backend(backends, [bell(), ghz(3)], "least_noisy", transpile=transpile)
    assert choice.backend == "c_clean"
    assert [c["name"] for c in choice.candidates] == ["c_clean", "fake_lima", "b_noisy"]
    assert choice.candidates[0]["estimated_success"] == pytest.approx(1.0)
    # b_noisy: every instruction fails 5 %, so its score is 0.95 ** (instructions with an error)
    noisy = choice.candidates[2]
    assert all(0.3 < s < 0.95 for s in noisy["per_circuit"])
    assert "least noisy: c_clean" in choice.reason and "1.0000" in choice.reason and "b_noisy" in choice.reason
    # the real calibrations: manila against lima, by their own numbers
    real = choose_backend(
        [fake_backend("fake_lima"), fake_backend("fake_manila")], [ghz(3)], "least_noisy", transpile=transpile
    )
    scores = {c["name"]: c["estimated_success"] for c in real.candidates}
    assert real.backend == max(scores, key=scores.get)
    for name, score in scores.items():
        (isa,) = transpile([ghz(3)], fake_backend(name))
        assert score == pytest.approx(estimated_success(isa, fake_backend(name).target))


def test_least_busy_reads_pending_jobs_skips_down_backends_and_breaks_ties_by_name():
    backends = [renamed("d", pending=7), renamed("c", pending=2), renamed("b", pending=2)]
    backends.append(renamed("a", pending=0, up=False))
    choice = choose_backend(backends, [bell()], "least_busy")
    assert choice.backend == "b"
    assert [c["name"] for c in choice.candidates] == ["b", "c", "d"]
    assert "b has 2 pending job(s)" in choice.reason and "tie broken by name" in choice.reason
    again = choose_backend(list(reversed(backends)), [bell()], "least_busy")
    assert again == choice  # deterministic: order of the candidates does not matter


def test_too_few_qubits_and_unknown_criterion_are_refused():
    with pytest.raises(InvalidRequest, match="6 qubits"):
        choose_backend([fake_backend("fake_manila")], [ghz(6)], "least_busy")
    with pytest.raises(InvalidRequest, match="auto_criterion"):
        choose_backend([fake_backend("fake_manila")], [bell()], "fastest")


def test_fake_candidates_fit_the_job():
    assert fake_candidates({"auto_backends": ["fake_quito", "fake_lima"]}, 2) == ["fake_lima", "fake_quito"]
    busy = fake_candidates({}, 20)
    assert busy and all(fake_backend(name).num_qubits >= 20 for name in busy[:3])
    noisy = fake_candidates({"auto_criterion": "least_noisy"}, 2)
    assert len(noisy) == 8


async def test_cluster_least_busy_uses_the_backends_pending_jobs(monkeypatch):
    members = [
        FakeBackendExecutor(ExecutorSpec(kind="fake", backend=name, options={"seed": 1}))
        for name in ("fake_manila", "fake_lima", "fake_quito")
    ]
    queues = {"fake_manila": 12, "fake_lima": 3, "fake_quito": 9}
    for member in members:
        monkeypatch.setattr(member, "queue_length", lambda m=member: queues[m.name])
    cluster = ClusterExecutor(members, "least_busy")
    assert cluster.queue_lengths() == [12, 3, 9]
    from executors.base import ExecutionRequest

    result = await cluster.run(ExecutionRequest(circuits=[bell()], shots=100))
    assert result.metadata["executor"] == "fake_lima"
    # in flight counts on top of the queue: two held on lima (3 + 2 = 5) still beat quito's 9
    assert cluster.select(ExecutionRequest(circuits=[bell()], shots=1)).index == 1
    assert cluster.select(ExecutionRequest(circuits=[bell()], shots=1)).index == 1
    queues["fake_lima"] = 20  # cached for QUEUE_TTL: the next reading comes later
    assert cluster.queue_lengths()[1] == 3
