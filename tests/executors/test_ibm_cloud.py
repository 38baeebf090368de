"""IBMCloudExecutor through the real qiskit-ibm-runtime client against the local IBM API stand-in."""

from __future__ import annotations

import json
import logging
import math
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from qiskit import QuantumCircuit
from qiskit.quantum_info import Statevector

from executors.base import (
    AuthenticationError,
    ExecutionRequest,
    ExecutorSpec,
    IBMCredential,
    InvalidRequest,
    JobCancelled,
    RemoteJobFailed,
    RemoteState,
    TransientError,
)
from executors.ibm_cloud import IBMCloudExecutor, least_busy, list_backends, validate_credential
from executors.provenance import isa_circuit
from tests.ibm_standin.server import STANDIN_ENDPOINTS, RemoteStandIn, StandIn

pytestmark = pytest.mark.asyncio
JOBS = r"/jobs$"


def bell() -> QuantumCircuit:
    circuit = QuantumCircuit(2)
    circuit.h(0)
    circuit.cx(0, 1)
    circuit.measure_all()
    return circuit


def credential(server: StandIn, token: str | None = None) -> IBMCredential:
    return IBMCredential(
        token=token or server.token,
        url=server.url,
        instance=server.crn,
        proxies=server.proxies,
        endpoints=STANDIN_ENDPOINTS,
    )


def executor(server: StandIn, **spec: object) -> IBMCloudExecutor:
    fields = {"kind": "ibm_cloud", "backend": "ibm_manila", "credential": credential(server)} | spec
    return IBMCloudExecutor(ExecutorSpec(**fields), attempts=6, base=0.05, cap=1.0, poll=0.02, poll_cap=0.2)


def assert_matches_statevector(circuit: QuantumCircuit, counts: dict[str, int], shots: int) -> None:
    """Each frequency within 5 binomial standard deviations of the exact probability.

    The stand-in simulates noiselessly by default, so the only spread is shot noise: a
    frequency estimate of p from n shots has sd sqrt(p(1-p)/n); 5 sd makes a false failure
    about 1 in 3.5 million per outcome. Outcomes of probability 0 must never appear.
    """
    exact = Statevector(circuit.remove_final_measurements(inplace=False)).probabilities_dict()
    assert sum(counts.values()) == shots
    assert set(counts) <= {key for key, p in exact.items() if p > 1e-12}
    for key, p in exact.items():
        bound = 5 * math.sqrt(p * (1 - p) / shots)
        assert abs(counts.get(key, 0) / shots - p) <= bound, (key, counts, p)


async def test_bell_counts_match_exact_probabilities(standin: StandIn) -> None:
    shots = 4000
    result = await executor(standin).run(ExecutionRequest(circuits=[bell()], shots=shots, submit_key="bell-1"))
    [circuit] = result.circuits
    assert_matches_statevector(bell(), circuit.counts, shots)
    assert circuit.register_counts == {"meas": circuit.counts}
    assert standin.post_count == 1
    [job] = standin.jobs.values()
    assert result.remote_ids == [job.id]
    assert {"bell-1", "bell-1.0"} <= set(job.tags)


async def test_estimator_expectation_values(standin: StandIn) -> None:
    """ZZ and XX on a Bell state are exactly +1; ZI is 0 (within 5 sd of 1/sqrt(shots))."""
    circuit = bell()
    request = ExecutionRequest(circuits=[circuit], primitive="estimator", observables=[["ZZ", "XX", "ZI"]], shots=4000)
    [result] = (await executor(standin).run(request)).circuits
    assert result.evs[:2] == pytest.approx([1.0, 1.0], abs=1e-9)
    assert abs(result.evs[2]) <= 5 / math.sqrt(4000)


@pytest.mark.parametrize("mode", ["job", "batch", "session"])
async def test_modes_and_one_call_per_circuit(standin: StandIn, mode: str) -> None:
    ex = executor(standin, mode=mode, single_job=False, max_time=600)
    result = await ex.run(ExecutionRequest(circuits=[bell(), bell()], shots=1000, submit_key=f"m-{mode}"))
    assert [c.index for c in result.circuits] == [0, 1]
    assert standin.post_count == 2 and len(result.remote_ids) == 2
    for circuit in result.circuits:
        assert_matches_statevector(bell(), circuit.counts, 1000)
    sessions = {job.session_id for job in standin.jobs.values()}
    assert (sessions == {None}) == (mode == "job")


async def test_reattach_after_dropping_the_executor(standin: StandIn) -> None:
    standin.hold()
    handle = await executor(standin).submit(ExecutionRequest(circuits=[bell()], shots=500, submit_key="re-1"))
    assert handle.remote_ids == list(standin.jobs)
    assert await executor(standin).status(handle) == RemoteState.QUEUED
    del handle  # as after a worker restart: only the persisted remote ids survive
    remote_ids = list(standin.jobs)
    fresh = executor(standin)
    reattached = await fresh.reattach(remote_ids)
    standin.release()
    result = await fresh.result(reattached)
    assert_matches_statevector(bell(), result.circuits[0].counts, 500)
    assert standin.post_count == 1


async def test_find_by_tag_recovers_a_lost_submit(standin: StandIn) -> None:
    ex = executor(standin, single_job=False)
    lost = await ex.submit(ExecutionRequest(circuits=[bell(), bell(), bell()], shots=300, submit_key="lost-1"))
    await ex.submit(ExecutionRequest(circuits=[bell()], shots=300, submit_key="other"))
    found = await executor(standin).find_by_tag("lost-1")
    assert found is not None and found.remote_ids == lost.remote_ids
    result = await executor(standin).result(found)
    assert [c.index for c in result.circuits] == [0, 1, 2]
    assert await executor(standin).find_by_tag("never-submitted") is None
    assert standin.post_count == 4


async def test_429_is_retried_with_growing_waits(standin: StandIn) -> None:
    standin.inject(JOBS, 429, times=5, method="POST", retry_after=0)
    ex = executor(standin)
    result = await ex.run(ExecutionRequest(circuits=[bell()], shots=200, submit_key="busy-1"))
    assert result.circuits[0].shots == 200
    assert len(ex.retry_waits) == 5
    assert all(a <= b for a, b in zip(ex.retry_waits, ex.retry_waits[1:], strict=False)), ex.retry_waits
    assert ex.retry_waits[-1] > ex.retry_waits[0]
    assert standin.post_count == 6 and len(standin.jobs) == 1


async def test_persistent_429_ends_in_transient_error(standin: StandIn) -> None:
    standin.inject(JOBS, 429, times=None, method="POST")
    ex = executor(standin)
    ex.attempts = 3
    with pytest.raises(TransientError, match="429"):
        await ex.submit(ExecutionRequest(circuits=[bell()], shots=100, submit_key="busy-2"))
    assert standin.post_count == 3 and not standin.jobs


async def test_dropped_connection_is_survived_without_a_duplicate(standin: StandIn) -> None:
    standin.drop(JOBS, times=1, method="POST")  # the client's own urllib3 retry resends this one
    result = await executor(standin).run(ExecutionRequest(circuits=[bell()], shots=100, submit_key="drop-1"))
    assert result.remote_ids == list(standin.jobs)
    assert standin.post_count == 2 and len(standin.jobs) == 1


async def test_lost_submit_response_is_not_resubmitted(standin: StandIn) -> None:
    """The job was created but the answer was lost: the retry finds it by tag instead of resubmitting."""
    standin.inject(JOBS, 429, times=1, method="POST", after=True)
    ex = executor(standin)
    handle = await ex.submit(ExecutionRequest(circuits=[bell()], shots=100, submit_key="lost-answer"))
    assert len(ex.retry_waits) == 1
    assert standin.post_count == 1 and handle.remote_ids == list(standin.jobs)
    assert standin.calls_to(JOBS, "GET"), "the retry looked the tag up"


async def test_401_fails_at_once_without_retry(standin: StandIn) -> None:
    standin.inject(JOBS, 401, times=None, method="POST")
    ex = executor(standin)
    with pytest.raises(AuthenticationError, match="401"):
        await ex.submit(ExecutionRequest(circuits=[bell()], shots=100, submit_key="auth-1"))
    assert standin.post_count == 1 and ex.retry_waits == []


async def test_unknown_token_is_refused(standin: StandIn) -> None:
    bad = credential(standin, token="not-the-token-9999")
    ok, message = validate_credential(bad)
    assert not ok and "refused" in message
    ex = IBMCloudExecutor(ExecutorSpec(kind="ibm_cloud", backend="ibm_manila", credential=bad), base=0.01)
    with pytest.raises(AuthenticationError):
        await ex.submit(ExecutionRequest(circuits=[bell()], shots=100))
    assert standin.post_count == 0 and ex.retry_waits == []
    assert validate_credential(credential(standin))[0]


async def test_ran_too_long_is_reported_with_ibms_message(standin: StandIn) -> None:
    standin.fail_next(1305, "Job ran longer than the maximum execution time of 10s.")
    with pytest.raises(RemoteJobFailed, match="1305.*maximum execution time of 10s"):
        await executor(standin).run(ExecutionRequest(circuits=[bell()], shots=100, submit_key="slow-1"))
    assert standin.post_count == 1


async def test_cancel_reaches_the_remote_job(standin: StandIn) -> None:
    standin.hold()
    ex = executor(standin)
    handle = await ex.submit(ExecutionRequest(circuits=[bell()], shots=100, submit_key="cancel-1"))
    await ex.cancel(handle)
    [job] = standin.jobs.values()
    assert job.status == "Cancelled"
    assert [c["path"] for c in standin.calls_to(r"/cancel$", "POST")] == [f"/api/v1/jobs/{job.id}/cancel"]
    assert await ex.status(handle) == RemoteState.CANCELLED
    with pytest.raises(JobCancelled):
        await ex.result(handle)
    await executor(standin).cancel(await executor(standin).reattach(handle.remote_ids))  # 409: fine


async def test_backend_listing(standin: StandIn) -> None:
    standin.queue_lengths = {"ibm_manila": 7, "ibm_lima": 3, "ibm_quito": 5}
    rows = list_backends(credential(standin))
    assert {row["name"]: row["pending_jobs"] for row in rows} == standin.queue_lengths
    assert all(row["num_qubits"] == 5 and row["operational"] for row in rows)
    assert least_busy(credential(standin)) == "ibm_lima"


async def test_token_never_logged_nor_in_errors(
    standin: StandIn, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(logging.getLogger("qiskit_ibm_runtime"), "propagate", True)
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="qiskit_ibm_runtime")
    messages = []
    standin.inject(JOBS, 429, times=1, method="POST")
    await executor(standin).run(ExecutionRequest(circuits=[bell()], shots=100, submit_key="log-1"))
    standin.inject(JOBS, 401, times=1, method="POST")
    with pytest.raises(AuthenticationError) as refused:
        await executor(standin).run(ExecutionRequest(circuits=[bell()], shots=100))
    messages.append(str(refused.value))
    bad_token = "wrong-token-0123456789"
    messages.append(validate_credential(credential(standin, token=bad_token))[1])
    messages.append(repr(credential(standin)))
    assert "qiskit_ibm_runtime" in {record.name.split(".")[0] for record in caplog.records}
    assert any(record.levelno == logging.DEBUG for record in caplog.records)
    for secret in (standin.token, bad_token):
        assert secret not in caplog.text
        assert all(secret not in message for message in messages)


async def test_standin_as_a_separate_process(monkeypatch: pytest.MonkeyPatch) -> None:
    """``python -m tests.ibm_standin.server`` prints its coordinates; RemoteStandIn drives it."""
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.ibm_standin.server", "--port", "0"],
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parents[2],
    )
    try:
        info = json.loads(process.stdout.readline())
        for key, value in info["env"].items():
            monkeypatch.setenv(key, value)
        remote = RemoteStandIn(info["port"])
        remote.inject(JOBS, 429, times=2, method="POST")
        cred = IBMCredential(
            token=info["token"],
            url=info["url"],
            instance=info["crn"],
            proxies=info["proxies"],
            endpoints=STANDIN_ENDPOINTS,
        )
        ex = IBMCloudExecutor(
            ExecutorSpec(kind="ibm_cloud", backend="ibm_manila", credential=cred), base=0.05, poll=0.02
        )
        result = await ex.run(ExecutionRequest(circuits=[bell()], shots=100, submit_key="remote-1"))
        assert remote.post_count == 3 and len(ex.retry_waits) == 2
        assert result.remote_ids == list(remote.state()["jobs"])
    finally:
        process.terminate()
        process.wait(timeout=10)


async def test_profile_options_reach_ibm(standin: StandIn) -> None:
    options = {
        "dynamical_decoupling": True,
        "twirling": True,
        "resilience_level": 1,
        "max_execution_time": 60,
        "seed": 7,
        "optimization_level": 1,
    }
    request = ExecutionRequest(circuits=[bell()], primitive="estimator", observables=[["ZZ"]], shots=1000)
    await executor(standin, options=options).run(request)
    [job] = standin.jobs.values()
    sent = job.params["options"]
    assert sent["dynamical_decoupling"]["enable"] is True
    assert sent["twirling"] == {"enable_gates": True, "enable_measure": True}
    assert sent["default_shots"] == 1000 and sent["simulator"] == {"seed_simulator": 7}
    assert job.params["resilience_level"] == 1  # the client sends it beside the options
    assert job.max_execution_time == 60 and job.program == "estimator"


async def test_circuits_must_be_isa_without_local_transpile(standin: StandIn) -> None:
    with pytest.raises(InvalidRequest, match="instruction set"):
        await executor(standin, local_transpile=False).submit(ExecutionRequest(circuits=[bell()], shots=10))
    assert standin.post_count == 0


async def test_memory_keeps_each_shot_even_after_reattaching(standin: StandIn) -> None:
    request = ExecutionRequest(circuits=[bell()], shots=400, submit_key="mem-1", memory=True)
    (circuit,) = (await executor(standin).run(request)).circuits
    shots = circuit.memory_bitstrings()
    assert len(shots) == 400 and dict(Counter(shots)) == circuit.counts
    standin.hold()
    handle = await executor(standin).submit(ExecutionRequest(circuits=[bell()], shots=300, memory=True))
    reattached = await executor(standin).reattach(handle.remote_ids, request)  # the job's own request
    standin.hold(False)
    standin.release()
    (again,) = (await executor(standin).result(reattached)).circuits
    assert dict(Counter(again.memory_bitstrings())) == again.counts and again.shots == 300
    (plain,) = (await executor(standin).run(ExecutionRequest(circuits=[bell()], shots=100))).circuits
    assert plain.memory is None


async def test_a_reattached_job_keeps_its_isa_circuit_and_layout(standin: StandIn) -> None:
    """A worker that takes a job over reads the ISA circuits back from IBM (the job's inputs), so
    the results carry the same ``isa`` summary and ``physical_qubits`` as on the first worker."""
    request = ExecutionRequest(circuits=[bell()], shots=300, submit_key="isa-0")
    (first,) = (await executor(standin).run(request)).circuits
    standin.hold()
    handle = await executor(standin).submit(ExecutionRequest(circuits=[bell()], shots=300, submit_key="isa-1"))
    reattached = await executor(standin).reattach(handle.remote_ids, request)
    standin.hold(False)
    standin.release()
    (again,) = (await executor(standin).result(reattached)).circuits
    isa, isa_before = dict(again.metadata["isa"]), dict(first.metadata["isa"])
    kept, kept_before = isa_circuit({"qpy": isa.pop("qpy")}), isa_circuit({"qpy": isa_before.pop("qpy")})
    assert isa == isa_before and isa["two_qubit_gates"] == 1 and isa["diagram"]  # names aside, the same
    assert kept.layout.final_index_layout() == kept_before.layout.final_index_layout()
    assert kept.count_ops() == kept_before.count_ops()
    assert again.metadata["physical_qubits"] == first.metadata["physical_qubits"]
    assert len(again.metadata["physical_qubits"]) == 2
    # a cancel's reattach (no request) does not ask for the inputs
    asked = len(standin.calls_to(r"/jobs/[^/]+$", method="GET"))
    await executor(standin).reattach(handle.remote_ids)
    assert len(standin.calls_to(r"/jobs/[^/]+$", method="GET")) == asked + 1  # the lookup alone
