"""Poison jobs end (issue 16): a simulator child's death fails only its own job, once, saying why;
a job that needs more memory than a child may use fails inside that child; a killed worker leaves
no simulator child behind.  Real processes and real signals throughout."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from asgiref.sync import async_to_sync, sync_to_async

from executors import isolation
from qportal.jobs import services
from qportal.jobs.models import Job, JobStatus
from qportal.jobs.worker import JobRunner

ROOT = Path(__file__).resolve().parents[2]


def busy(qubits: int, layers: int) -> str:
    """Mid-circuit measurement and reset: Aer simulates it shot by shot, for a while."""
    ring = "".join(f"h q[{i}];\ncx q[{i}],q[{(i + 1) % qubits}];\n" for i in range(qubits))
    return (
        f'OPENQASM 2.0;\ninclude "qelib1.inc";\nqreg q[{qubits}];\ncreg m[{qubits}];\ncreg c[{qubits}];\n'
        + ring * layers
        + "measure q -> m;\nreset q;\nh q;\nmeasure q -> c;\n"
    )


LONG = busy(12, 4)  # ~6 s at 100,000 shots on a busy 2-CPU machine
MEDIUM = busy(10, 2)  # ~2 s at 20,000 shots


def wide(qubits: int) -> str:
    return f'OPENQASM 2.0;\ninclude "qelib1.inc";\nqreg q[{qubits}];\ncreg c[{qubits}];\nh q;\nt q;\nmeasure q -> c;\n'


def submit(user, qasm: str, shots: int):
    return services.submit_job(user, services.Submission(profile="local", circuits=[{"qasm": qasm}], shots=shots))


def cpu_ticks(pid: int) -> int:
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


async def busy_children(exclude: set[int] = frozenset(), timeout: float = 60) -> set[int]:
    """The simulator children (not in ``exclude``) that are burning CPU, once there is one."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pids = [pid for pid in isolation.process_ids() if pid not in exclude]
        before = {pid: cpu_ticks(pid) for pid in pids if alive(pid)}
        await asyncio.sleep(0.3)
        found = {pid for pid, ticks in before.items() if alive(pid) and cpu_ticks(pid) - ticks >= 10}
        if found:
            return found
    raise AssertionError("no simulator child got busy")


async def until(predicate, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await sync_to_async(predicate)():
            return
        await asyncio.sleep(0.1)
    raise AssertionError("timed out")


def finished(*jobs) -> bool:
    return all(status in ("done", "failed", "cancelled") for status in statuses(*jobs))


def statuses(*jobs) -> list[str]:
    return [Job.objects.get(id=job.id).status for job in jobs]


def serving(runner: JobRunner, scenario):
    """Run ``scenario(runner)`` beside ``runner.serve()``; isolation is turned off afterwards."""

    async def run():
        task = asyncio.create_task(runner.serve())
        try:
            await scenario(runner)
        finally:
            task.cancel()
            isolation.disable()

    async_to_sync(run)()


def test_a_killed_child_fails_its_own_job_once_and_another_users_job_completes(users, settings):
    settings.WORKER_SIM_PROCESSES = 2
    doomed = submit(users["alice"], LONG, 100_000)
    survivor = None

    async def scenario(runner):
        nonlocal survivor
        await until(lambda: statuses(doomed) == ["running"])  # claimed: the children are warm
        (victim,) = await busy_children()  # the doomed job's child
        survivor = await sync_to_async(submit)(users["bob"], MEDIUM, 20_000)
        runner.wake()
        await until(lambda: statuses(survivor) == ["running"])
        await busy_children(exclude={victim})  # the other job now runs in the other child
        os.kill(victim, signal.SIGKILL)
        await until(lambda: finished(doomed, survivor))

    serving(JobRunner(worker_id="w", sweep_seconds=0.2), scenario)
    doomed.refresh_from_db()
    survivor.refresh_from_db()
    assert doomed.status == JobStatus.FAILED and doomed.attempt == 1, (doomed.status, doomed.error)
    assert "killed (SIGKILL), most likely out of memory" in doomed.error
    assert "a simulator process may use 8 GiB (QPORTAL_SIM_MEMORY_MB)" in doomed.error
    assert "retrying" not in list(doomed.events.values_list("kind", flat=True))  # final, not retried
    assert survivor.status == JobStatus.DONE, survivor.error
    assert sum(survivor.circuits.get().counts.values()) == 20_000


def test_a_job_over_the_childs_memory_fails_inside_the_child_naming_memory(users, settings):
    settings.WORKER_SIM_PROCESSES = 1
    job = submit(users["alice"], wide(27), 100)  # a 2 GiB state: accepted at the default 8 GiB
    settings.SIM_MEMORY_BYTES = 64 * 2**20  # the worker's children may use 64 MiB
    children = []

    async def scenario(runner):
        await until(lambda: isolation.process_ids() != [])
        children.extend(isolation.process_ids())
        await until(lambda: finished(job), timeout=60)

    started = time.monotonic()
    serving(JobRunner(worker_id="w", sweep_seconds=0.2), scenario)
    job.refresh_from_db()
    assert job.status == JobStatus.FAILED and job.attempt == 1, (job.status, job.error)
    assert job.error == (
        "the simulator ran out of memory: this job needs about 2 GiB; "
        "a simulator process may use 64 MiB (QPORTAL_SIM_MEMORY_MB)"
    )
    assert "retrying" not in list(job.events.values_list("kind", flat=True))
    assert time.monotonic() - started < 60


def test_a_pennylane_job_simulates_in_a_child_so_its_memory_ends_only_its_job(users, settings):
    """Before, a PennyLane profile simulated inside the worker: 30 qubits killed the server."""
    from qportal.profiles.models import ExecutorProfile

    settings.WORKER_SIM_PROCESSES = 1
    ExecutorProfile.objects.create(team=users["lab"], name="pl", kind="pennylane", backend="default.qubit")

    def on_pennylane(qasm: str):
        sub = services.Submission(profile="pl", circuits=[{"qasm": qasm}], shots=100, team=users["lab"].id)
        return services.submit_job(users["alice"], sub)

    big, small = on_pennylane(wide(27)), on_pennylane(wide(2))  # 2 GiB: accepted at the default 8 GiB
    settings.SIM_MEMORY_BYTES = 64 * 2**20

    async def scenario(runner):
        await until(lambda: finished(big, small), timeout=90)

    serving(JobRunner(worker_id="w", sweep_seconds=0.2), scenario)
    big.refresh_from_db()
    small.refresh_from_db()
    assert big.status == JobStatus.FAILED and big.attempt == 1, (big.status, big.error)
    assert big.error == (
        "the simulator ran out of memory: this job needs about 2 GiB; "
        "a simulator process may use 64 MiB (QPORTAL_SIM_MEMORY_MB)"
    )
    assert small.status == JobStatus.DONE, small.error
    assert sum(small.circuits.get().counts.values()) == 100


def test_the_address_space_cap_leaves_room_for_the_budget():
    assert isolation.address_space_cap(8 * 2**30, 300 * 2**20, 2) > 300 * 2**20 + 8 * 2**30 * 1.1
    assert isolation.address_space_cap(64 * 2**20, 300 * 2**20, 2) < 2 * 2**30  # the test above relies on it


PARENT = """
import asyncio, sys
from executors import isolation
from executors.base import ExecutionRequest
from executors.circuits import parse_circuit
from executors.local import LocalSimulatorExecutor
isolation.enable(2, warm=(LocalSimulatorExecutor,), memory_bytes=2**30)
isolation.warm_up()
print(" ".join(str(pid) for pid in isolation.process_ids()), flush=True)
request = ExecutionRequest(circuits=[parse_circuit({"qasm": sys.stdin.read()})], shots=100000)
asyncio.run(LocalSimulatorExecutor().run(request))
"""


def test_a_worker_killed_mid_simulation_leaves_no_child_alive():
    """The child is inside Aer, which holds its GIL: a watching thread could not run there."""
    parent = subprocess.Popen(
        [sys.executable, "-c", PARENT], cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        parent.stdin.write(LONG)
        parent.stdin.close()
        children = [int(pid) for pid in parent.stdout.readline().split()]
        assert len(children) == 2 and all(alive(pid) for pid in children)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:  # until one child simulates
            before = {pid: cpu_ticks(pid) for pid in children}
            time.sleep(0.3)
            if any(cpu_ticks(pid) - ticks >= 10 for pid, ticks in before.items()):
                break
        else:
            raise AssertionError("the simulation never started")
        parent.send_signal(signal.SIGKILL)
        parent.wait(10)
        deadline = time.monotonic() + 2
        while time.monotonic() < deadline and any(alive(pid) for pid in children):
            time.sleep(0.05)
        assert not any(alive(pid) for pid in children), "a simulator child outlived its killed parent"
    finally:
        parent.kill()
        for pid in children if "children" in locals() else ():
            if alive(pid):
                os.kill(pid, signal.SIGKILL)
