"""ClusterExecutor: selectors, failover, terminal errors, the job protocol and cluster specs."""

from __future__ import annotations

import asyncio

import pytest

from executors.base import (
    ExecutionRequest,
    ExecutorSpec,
    InvalidRequest,
    JobCancelled,
    RemoteJobFailed,
    RemoteState,
    TransientError,
)
from executors.cluster import ClusterExecutor, QCluster
from executors.local import AerSamplerExecutor
from executors.registry import build_executor
from tests.circuits import bell
from tests.executors.qe_helpers import Failing, Held, Recorder


def request(shots: int = 200) -> ExecutionRequest:
    return ExecutionRequest([bell()], shots=shots)


def recorders(count: int, log: list[str]) -> list[Recorder]:
    return [Recorder(AerSamplerExecutor(), f"m{i}", log) for i in range(count)]


def assert_bell(result, shots: int = 200) -> None:
    counts = result.circuits[0].counts
    assert set(counts) <= {"00", "11"} and sum(counts.values()) == shots


async def test_cyclic_runs_members_in_exact_order():
    log: list[str] = []
    cluster = ClusterExecutor(recorders(3, log), "cyclic")
    results = [await cluster.run(request()) for _ in range(7)]
    assert log == ["m0", "m1", "m2", "m0", "m1", "m2", "m0"]
    assert [r.metadata["executor"] for r in results] == log
    assert all(r.metadata["failover"] == [] for r in results)
    assert_bell(results[0])


async def test_random_selector_uses_every_member():
    log: list[str] = []
    cluster = ClusterExecutor(recorders(3, log), "random", seed=7)
    await asyncio.gather(*(cluster.run(request(10)) for _ in range(30)))
    assert set(log) == {"m0", "m1", "m2"}


async def test_least_busy_avoids_members_with_work_in_flight():
    log: list[str] = []
    held = Held(AerSamplerExecutor(), "held", log)
    free = Recorder(AerSamplerExecutor(), "free", log)
    cluster = ClusterExecutor([held, free], "least_busy")
    blocked = asyncio.create_task(cluster.run(request()))
    await asyncio.sleep(0.02)
    assert cluster.in_flight() == [1, 0]
    for _ in range(3):
        await cluster.run(request())
    assert log == ["held", "free", "free", "free"]
    held.release.set()
    assert_bell(await blocked)
    assert cluster.in_flight() == [0, 0]


async def test_custom_selector_and_non_member_refused():
    log: list[str] = []
    members = recorders(2, log)
    by_shots = ClusterExecutor(members, lambda executors, req: executors[req.shots % 2])
    await by_shots.run(request(201))
    await by_shots.run(request(200))
    assert log == ["m1", "m0"]
    stranger = ClusterExecutor(members, lambda executors, req: AerSamplerExecutor())
    with pytest.raises(InvalidRequest, match="not a member"):
        await stranger.run(request())


@pytest.mark.parametrize("error", [TransientError("429 too many requests"), ConnectionResetError("reset")])
async def test_failover_moves_to_next_member_and_is_recorded(error):
    log: list[str] = []
    flaky = Failing(AerSamplerExecutor(), "flaky", log, error)
    cluster = ClusterExecutor([flaky, *recorders(2, log)], "cyclic")
    result = await cluster.run(request())
    assert_bell(result)
    assert log == ["flaky", "m0"]
    assert result.metadata["executor"] == "m0" and result.metadata["executor_index"] == 1
    (event,) = result.metadata["failover"]
    assert event["executor"] == "flaky" and event["index"] == 0
    assert event["type"] == type(error).__name__ and event["error"] == str(error)
    assert cluster.in_flight() == [0, 0, 0]


async def test_all_members_failing_raises_transient_error():
    log: list[str] = []
    members = [Failing(AerSamplerExecutor(), f"f{i}", log, TransientError("busy")) for i in range(3)]
    cluster = ClusterExecutor(members)
    with pytest.raises(TransientError, match="all members of cluster failed"):
        await cluster.run(request())
    assert log == ["f0", "f1", "f2"]
    assert cluster.in_flight() == [0, 0, 0]


@pytest.mark.parametrize("error", [InvalidRequest("too many qubits"), RemoteJobFailed("error 1305")])
async def test_terminal_errors_are_not_retried(error):
    log: list[str] = []
    cluster = ClusterExecutor([Failing(AerSamplerExecutor(), "first", log, error), *recorders(1, log)])
    with pytest.raises(type(error)):
        await cluster.run(request())
    assert log == ["first"]


async def test_job_protocol_submit_status_result_cancel():
    log: list[str] = []
    held = Held(AerSamplerExecutor(), "held", log)
    cluster = QCluster([held])
    handle = await cluster.submit(request())
    await asyncio.sleep(0.02)
    assert await cluster.status(handle) == RemoteState.RUNNING
    await cluster.cancel(handle)
    with pytest.raises(JobCancelled):
        await cluster.result(handle)
    assert await cluster.status(handle) == RemoteState.CANCELLED
    assert held.cancelled.is_set()
    held.release.set()
    handle = await cluster.submit(request())
    assert_bell(await cluster.result(handle))
    assert await cluster.status(handle) == RemoteState.DONE


async def test_cluster_spec_builds_members_through_the_registry():
    spec = ExecutorSpec(
        kind="cluster",
        members=[ExecutorSpec(kind="local"), ExecutorSpec(kind="pennylane", backend="default.qubit")],
        selector="cyclic",
    )
    for cluster in (build_executor(spec), ClusterExecutor(spec, build=build_executor)):
        assert isinstance(cluster, ClusterExecutor) and cluster.selector == "cyclic"
        first, second = await cluster.run(request()), await cluster.run(request())
        assert first.metadata["executor_index"] == 0 and second.metadata["executor_index"] == 1
        assert_bell(first)
        assert_bell(second)


def test_bad_configuration_is_refused():
    with pytest.raises(InvalidRequest, match="needs build="):
        ClusterExecutor([ExecutorSpec(kind="local")])
    with pytest.raises(InvalidRequest, match="unknown selector"):
        ClusterExecutor([AerSamplerExecutor()], "fastest")
    with pytest.raises(InvalidRequest, match="at least one member"):
        ClusterExecutor([])
    with pytest.raises(InvalidRequest, match="cluster spec"):
        ClusterExecutor(ExecutorSpec(kind="local"))
