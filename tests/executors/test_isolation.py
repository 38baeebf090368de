"""Simulations in child processes: same results, and the caller's event loop keeps running."""

from __future__ import annotations

import asyncio

import pytest

from executors import isolation
from executors.base import ExecutionRequest, ExecutorSpec
from executors.circuits import parse_circuit
from executors.fake_backend import FakeBackendExecutor
from executors.local import LocalSimulatorExecutor
from tests.circuits import BELL, GHZ3
from tests.stats import assert_counts_match, exact_probabilities

# Per-shot simulation (mid-circuit measurement + reset) keeps Aer busy for a while.
BUSY = (
    'OPENQASM 2.0;\ninclude "qelib1.inc";\nqreg q[10];\ncreg m[10];\ncreg c[10];\n'
    + "".join(f"h q[{i}];\ncx q[{i}],q[{(i + 1) % 10}];\n" for i in range(10)) * 2
    + "measure q -> m;\nreset q;\nh q;\nmeasure q -> c;\n"
)


@pytest.fixture(scope="module")
def pool():
    isolation.enable(2, warm=(LocalSimulatorExecutor,))
    isolation.warm_up()
    yield
    isolation.disable()


async def test_isolated_results_and_per_circuit_callbacks(pool):
    seen = []
    request = ExecutionRequest(
        circuits=[parse_circuit({"qasm": BELL}), parse_circuit({"qasm": GHZ3})], shots=5000, on_circuit=seen.append
    )
    result = await LocalSimulatorExecutor(ExecutorSpec(kind="local", single_job=False)).run(request)
    assert result.metadata["isolated"] is True
    assert set(result.circuits[0].counts) <= {"00", "11"} and sum(result.circuits[0].counts.values()) == 5000
    assert set(result.circuits[1].counts) <= {"000", "111"}
    assert [r.index for r in seen] == [0, 1]


async def test_tiny_jobs_run_inline_and_others_in_a_child(pool):
    executor = LocalSimulatorExecutor()
    progress = []
    bell = ExecutionRequest(circuits=[parse_circuit({"qasm": BELL})], shots=1024, on_progress=progress.append)
    result = await executor.run(bell)
    assert "isolated" not in result.metadata
    assert set(result.circuits[0].counts) <= {"00", "11"} and sum(result.circuits[0].counts.values()) == 1024
    assert progress == ["executing"]  # beside isolation, no separate "transpiling" step

    busy = ExecutionRequest(circuits=[parse_circuit({"qasm": BUSY})], shots=100)  # measures mid-way
    many_shots = ExecutionRequest(circuits=[parse_circuit({"qasm": BELL})], shots=5000)
    estimator = ExecutionRequest(circuits=[parse_circuit({"qasm": GHZ3})], primitive="estimator", observables=["ZZZ"])
    for request in (busy, many_shots, estimator):
        assert not executor.runs_inline(request, request.shots or 1024)
    assert (await executor.run(many_shots)).metadata["isolated"] is True
    assert not FakeBackendExecutor(ExecutorSpec(kind="fake", backend="fake_manila")).runs_inline(bell, 1024)


async def test_isolated_fake_backend(pool):
    request = ExecutionRequest(circuits=[parse_circuit({"qasm": BELL})], shots=2000)
    result = await FakeBackendExecutor(ExecutorSpec(kind="fake", backend="fake_manila")).run(request)
    assert result.metadata["isolated"] is True  # a fake backend declares no job tiny
    counts = result.circuits[0].counts
    assert sum(counts.values()) == 2000 and counts.get("00", 0) + counts.get("11", 0) > 1700


async def test_event_loop_stays_responsive_during_a_long_simulation(pool):
    ticks = 0

    async def ticker():
        nonlocal ticks
        while True:
            await asyncio.sleep(0.05)
            ticks += 1

    request = ExecutionRequest(circuits=[parse_circuit({"qasm": BUSY})], shots=40000)
    task = asyncio.create_task(ticker())
    loop = asyncio.get_running_loop()
    started = loop.time()
    await LocalSimulatorExecutor().run(request)
    elapsed = loop.time() - started
    task.cancel()
    assert elapsed > 0.5, "the simulation was too short to tell"
    # In a thread, Aer holds the GIL and the ticker barely runs; in a child process it keeps pace.
    assert ticks >= 0.6 * elapsed / 0.05, (ticks, elapsed)


def test_children_exit_when_their_parent_is_killed(tmp_path):
    import signal
    import subprocess
    import sys
    import time
    from pathlib import Path

    script = (
        "import os, sys, time\n"
        "from executors import isolation\n"
        "isolation.enable(2)\n"
        "isolation.warm_up()\n"
        "print(' '.join(str(p) for p in isolation.process_ids()), flush=True)\n"
        "time.sleep(600)\n"
    )
    root = Path(__file__).resolve().parents[2]
    parent = subprocess.Popen([sys.executable, "-c", script], cwd=root, stdout=subprocess.PIPE, text=True)
    children = [int(p) for p in parent.stdout.readline().split()]
    assert len(children) == 2 and all(_alive(pid) for pid in children)
    parent.send_signal(signal.SIGKILL)
    parent.wait(10)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and any(_alive(pid) for pid in children):
        time.sleep(0.2)
    assert not any(_alive(pid) for pid in children), "pool children outlived their killed parent"


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split()[2] != "Z"
    except FileNotFoundError:
        return False


def test_split_balances_work_and_keeps_every_index():
    small, large = parse_circuit({"qasm": BELL}), parse_circuit({"qasm": BUSY})
    request = ExecutionRequest(circuits=[large, large] + [small] * 14)
    parts = isolation.split(request, list(range(16)), 2)
    assert sorted(i for part in parts for i in part) == list(range(16))
    assert len(parts) == 2 and {0, 1} not in [set(part) & {0, 1} for part in parts]  # the two big ones apart
    assert isolation.split(request, list(range(16)), 1) == [list(range(16))]
    assert isolation.split(request, list(range(16)), 2, seeded=True) == [list(range(16))]
    assert isolation.split(request, list(range(4)), 2) == [[0, 1, 2, 3]]  # too small to split


async def test_a_large_batch_is_split_across_processes_and_comes_back_in_order(pool):
    bell, ghz = parse_circuit({"qasm": BELL}), parse_circuit({"qasm": GHZ3})
    request = ExecutionRequest(circuits=[bell, ghz] * 10, shots=5000)
    result = await LocalSimulatorExecutor(ExecutorSpec(kind="local", single_job=True)).run(request)
    assert [r.index for r in result.circuits] == list(range(20))
    for r in result.circuits:
        assert set(r.counts) <= ({"00", "11"} if r.index % 2 == 0 else {"000", "111"})
        assert_counts_match(r.counts, exact_probabilities(BELL if r.index % 2 == 0 else GHZ3), 5000)
    assert {r.metadata["pubs_in_call"] for r in result.circuits} == {10}  # two calls of 10, one per process


async def test_split_estimator_keeps_each_circuits_observables(pool):
    ghz = parse_circuit({"qasm": GHZ3})
    request = ExecutionRequest(
        circuits=[ghz] * 16, primitive="estimator", observables=[["XXX"], ["ZZI"], ["ZZZ"], ["IZZ"]] * 4, shots=10000
    )
    result = await LocalSimulatorExecutor(ExecutorSpec(kind="local", single_job=True)).run(request)
    expected = [1.0, 1.0, 0.0, 1.0] * 4
    assert [r.index for r in result.circuits] == list(range(16))
    for r in result.circuits:
        assert abs(r.evs[0] - expected[r.index]) < 0.05, (r.index, r.evs)


async def test_a_dead_idle_child_is_replaced_and_costs_no_job(pool):
    import os
    import signal

    request = ExecutionRequest(circuits=[parse_circuit({"qasm": BELL})], shots=5000)
    executor = LocalSimulatorExecutor()
    await executor.run(request)
    killed = isolation.process_ids()
    assert killed
    for pid in killed:
        os.kill(pid, signal.SIGKILL)
    await asyncio.sleep(0.5)
    result = await executor.run(request)  # the broken pool is replaced before the job is sent
    assert sum(result.circuits[0].counts.values()) == 5000
    assert not set(isolation.process_ids()) & set(killed)


async def test_circuits_with_sources_travel_as_text_and_run_the_same(pool):
    bell, ghz = parse_circuit({"qasm": BELL, "name": "bell"}), parse_circuit({"qasm": GHZ3})
    without_text = parse_circuit({"qasm": BELL})
    request = ExecutionRequest(circuits=[bell, ghz, without_text], shots=5000, sources=[BELL, GHZ3, None])

    portable = isolation.portable(request)
    assert [type(c).__name__ for c in portable.circuits] == ["CircuitText", "CircuitText", "QuantumCircuit"]
    assert portable.sources is None  # each text is sent once, in its CircuitText
    rebuilt = isolation.materialize(portable).circuits
    assert rebuilt == request.circuits and rebuilt[0].name == "bell"
    assert isolation.portable(ExecutionRequest(circuits=[bell])).circuits == [bell]

    result = await LocalSimulatorExecutor(ExecutorSpec(kind="local", single_job=True)).run(request)
    assert result.metadata["isolated"] is True
    for r, text in zip(result.circuits, (BELL, GHZ3, BELL), strict=True):
        assert_counts_match(r.counts, exact_probabilities(text), 5000)


async def test_a_split_batch_keeps_each_circuits_source(pool):
    bell, ghz = parse_circuit({"qasm": BELL}), parse_circuit({"qasm": GHZ3})
    request = ExecutionRequest(circuits=[bell, ghz] * 8, shots=2000, sources=[BELL, None] * 8)
    result = await LocalSimulatorExecutor(ExecutorSpec(kind="local", single_job=True)).run(request)
    assert {r.metadata["pubs_in_call"] for r in result.circuits} == {8}  # split in two
    for r in result.circuits:
        assert_counts_match(r.counts, exact_probabilities(BELL if r.index % 2 == 0 else GHZ3), 2000)


def test_a_text_repeated_in_a_job_is_parsed_once_in_the_child(monkeypatch):
    import executors.circuits

    texts = []
    parse = executors.circuits.parse_circuit
    monkeypatch.setattr(
        executors.circuits, "parse_circuit", lambda source, index=0: texts.append(index) or parse(source, index)
    )
    sent = [
        isolation.CircuitText(BELL, "a"),
        isolation.CircuitText(GHZ3, ""),
        isolation.CircuitText(BELL, "b"),
        isolation.CircuitText(BELL, ""),
    ]
    rebuilt = isolation.materialize(ExecutionRequest(circuits=sent)).circuits
    assert texts == [0, 1]
    assert [c.name for c in rebuilt] == ["a", "", "b", ""]
    assert rebuilt[0] == rebuilt[2] == rebuilt[3] and len({id(c) for c in rebuilt}) == 4
    assert rebuilt[1] == parse({"qasm": GHZ3})


def test_a_chunk_holds_an_eighth_of_the_job_and_at_most_two_million_shots():
    assert isolation.chunk_size(64, 1000) == 8 and isolation.chunk_size(5, 100) == 1
    assert isolation.chunk_size(1000, 100_000) == 20  # not 125: the child's memory grows with its chunk
    assert isolation.chunk_size(10, 3_000_000) == 1  # one circuit over the budget still runs


async def test_a_big_shot_job_is_reported_in_chunks_of_its_shot_budget(pool, monkeypatch):
    monkeypatch.setattr(isolation, "CHUNK_SHOTS", 2000)
    chunks = []
    circuit = parse_circuit({"qasm": BELL})
    request = ExecutionRequest(circuits=[circuit] * 9, shots=1000)  # seeded profile: one part, in order
    executor = LocalSimulatorExecutor(ExecutorSpec(kind="local", single_job=False, options={"seed": 5}))
    results = await isolation.run_batch(
        LocalSimulatorExecutor, executor.spec, "job", request, list(range(9)), 1000, on_chunk=chunks.append
    )
    assert [[r.index for r in chunk] for chunk in chunks] == [[0, 1], [2, 3], [4, 5], [6, 7], [8]]
    assert [r.index for r in results] == list(range(9)) and all(sum(r.counts.values()) == 1000 for r in results)
