"""Run simulations in worker processes so the caller's event loop stays responsive.

qiskit-aer holds the GIL for a whole simulation (bench/README.md, "Figures behind the code"), so
running it in a thread freezes every coroutine in the process: heartbeats, websocket
frames, HTTP requests.  A long-running service (the portal's job worker) calls :func:`enable` once;
each batch of circuits then runs in a pool of spawned processes (``pebble.ProcessPool``).  Scripts
and notebooks that never call it keep the lower-latency in-thread path.

Each child's death is its own: a child that dies (a signal, the out-of-memory killer) fails only the
batch it was running, with :class:`~executors.base.SimulatorDied` saying how it died and what the
job needs against the memory a child may use; the pool starts a new child in its place.  With a
memory budget, each child's address space is capped at the budget plus its own start-up size and
a headroom, so an over-large allocation fails inside that child as a clean error.

A circuit whose OpenQASM text the request carries (``ExecutionRequest.sources``) is sent as that
text.  A child caches the executor and the prepared (transpiled) circuits of recent jobs, so the
batches of a per-circuit job prepare once per child.
"""

from __future__ import annotations

import asyncio
import ctypes
import dataclasses
import multiprocessing
import os
import pickle
import resource
import signal
import sys
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import CancelledError, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import Any

from pebble import ProcessExpired, ProcessPool

from executors import usage
from executors.base import SimulatorDied, TransientError
from executors.memory import describe, job_state_bytes

_lock = threading.Lock()
_pool: ProcessPool | None = None
_size = 0
_warm: tuple[type, ...] = ()
_memory: int | None = None  # bytes one child may use (None: no cap)
# One thread for the process's lifetime starts every pool, so its first children are spawned by a
# thread that never exits (the pool's own manager thread spawns the replacements).
_starter = ThreadPoolExecutor(max_workers=1, thread_name_prefix="isolation-start")


def enable(processes: int, warm: tuple[type, ...] = (), memory_bytes: int | None = None) -> None:
    """Route in-process simulations through ``processes`` worker processes (idempotent).

    ``warm``: executor classes each child loads at start (their modules import qiskit and Aer,
    which takes seconds), instead of on its first job; passed in so this module imports none.
    ``memory_bytes``: what one child may use (the portal's ``QPORTAL_SIM_MEMORY_MB``): each child's
    address space is capped from it, and a child's death is explained against it.
    """
    global _pool, _size, _warm, _memory
    with _lock:
        if _pool is None or _size != processes or _warm != tuple(warm) or _memory != memory_bytes:
            if _pool is not None:
                _stop(_pool)
            _warm, _size, _memory = tuple(warm), processes, memory_bytes
            _pool = _new_pool()


def _new_pool() -> ProcessPool:
    pool = ProcessPool(
        max_workers=_size,
        context=multiprocessing.get_context("spawn"),
        initializer=_warm_child,
        # The parent's pid from the parent: a child that starts after its parent died would
        # otherwise watch its new parent (init) forever. Unpickling the classes imports them.
        initargs=(os.getpid(), _memory, *_warm),
    )
    _starter.submit(lambda: pool.active).result()  # spawns the children from the long-lived thread
    return pool


def _stop(pool: ProcessPool) -> None:
    """Stop ``pool`` without waiting for its children (pebble terminates them in the background)."""
    pool.stop()
    threading.Thread(target=pool.join, name="isolation-stop", daemon=True).start()


def _live_pool() -> ProcessPool:
    """The pool, replaced first if it broke (pebble gives up when a child dies while none is busy)."""
    global _pool
    with _lock:
        if _pool is None:
            raise RuntimeError("process isolation is not enabled")
        if not _pool.active:
            _stop(_pool)
            _pool = _new_pool()
        return _pool


def disable() -> None:
    global _pool
    with _lock:
        if _pool is not None:
            _stop(_pool)
        _pool = None


def enabled() -> bool:
    return _pool is not None


def process_ids() -> list[int]:
    """The pids of the pool's running children (none when isolation is off)."""
    pool = _pool
    return [] if pool is None else list(pool._pool_manager.worker_manager.workers)


def warm_up(timeout: float = 120) -> None:
    """Start every child now (imports take seconds) instead of on the first job: returns once each
    child has run a task, so each has finished its start-up."""
    if _pool is None:
        return
    seen: set[int] = set()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pool = _live_pool()
        futures = [pool.schedule(_pid_after, (0.05,)) for _ in range(_size)]
        seen.update(future.result(timeout=max(1.0, deadline - time.monotonic())) for future in futures)
        if len(seen & set(process_ids())) >= _size:
            return


# A batch of at least this many circuits is split across the pool's processes (one simulator call
# in each) when the pool has more than one, so the machine's other cores simulate in parallel.
SPLIT_MIN_CIRCUITS = 8
CHUNKS_PER_JOB = 8  # a job reported as it goes runs in about this many chunks (chunk_size)
CHUNK_SHOTS = 2_000_000  # and a chunk has at most this many shots (20 circuits of 100,000)


async def run_batch(
    executor_cls: type,
    spec: Any,
    job_key: str,
    request: Any,
    indices: list[int],
    shots: int,
    on_chunk: Callable[[list], None] | None = None,
) -> Any:
    """Run ``indices`` of ``request`` in child processes; returns the executor's CircuitResult list.

    A large batch is split across the pool's processes (see :func:`split`); the results come back
    in index order either way.  With ``on_chunk``, each process's part runs in chunks
    (:func:`chunk_size`), and ``on_chunk`` gets each chunk's results as it finishes: a job's
    finished circuits are known, and kept, before the job ends.
    """
    if _pool is None:
        raise RuntimeError("process isolation is not enabled")
    parts = split(request, indices, _size, seeded=spec.options.get("seed") is not None)
    if len(parts) == 1 and on_chunk is None:
        return await _run_part(executor_cls, spec, job_key, request, indices, shots)
    step = chunk_size(len(indices), shots) if on_chunk is not None else len(indices)

    async def run(number: int, part: list[int]) -> list:
        # One part: the request as it is; several: each its own request, indexed from 0.
        sub, positions = (request, part) if len(parts) == 1 else (_subrequest(request, part), list(range(len(part))))
        results = []
        for start in range(0, len(positions), step):
            batch = positions[start : start + step]
            chunk = await _run_part(executor_cls, spec, f"{job_key}.{number}", sub, batch, shots)
            if len(parts) > 1:
                chunk = [dataclasses.replace(result, index=part[result.index]) for result in chunk]
            if on_chunk is not None:
                on_chunk(chunk)
            results.extend(chunk)
        return results

    chunks = await asyncio.gather(*(run(number, part) for number, part in enumerate(parts)))
    return sorted((result for chunk in chunks for result in chunk), key=lambda result: result.index)


def chunk_size(circuits: int, shots: int = 0) -> int:
    """Circuits per chunk of a job reported as it goes: about ``CHUNKS_PER_JOB`` chunks in all, so a
    1000-circuit job pays the per-call cost (pickling, Aer's set-up) 8 times, not 1000 (benchmark 3),
    and at most ``CHUNK_SHOTS`` shots a chunk: a simulator child holds its chunk's per-shot results
    (about 25 MiB per 16-qubit circuit of 100,000 shots), so the chunk bounds its memory
    (bench/README.md, big jobs).  It depends on the job alone, never on the machine: a seeded job's
    samples stay the same."""
    by_count = -(-circuits // CHUNKS_PER_JOB)
    by_shots = CHUNK_SHOTS // shots if shots > 0 else by_count
    return max(1, min(by_count, by_shots))


def split(request: Any, indices: list[int], processes: int, *, seeded: bool = False) -> list[list[int]]:
    """``indices`` in up to ``processes`` parts of similar simulation work (gates x 2^qubits).

    One part when the pool has one process, the batch is small, or the job has a seed (its samples
    must not depend on how many processes the machine has).
    """
    parts_wanted = min(processes, len(indices) // SPLIT_MIN_CIRCUITS)
    if seeded or parts_wanted <= 1:
        return [list(indices)]
    parts: list[list[int]] = [[] for _ in range(parts_wanted)]
    load = [0] * parts_wanted

    def work(index: int) -> int:
        circuit = request.circuits[index]
        return (len(circuit.data) + 1) * 2 ** min(circuit.num_qubits, 40)

    for index in sorted(indices, key=work, reverse=True):  # largest first, onto the lightest part
        lightest = load.index(min(load))
        parts[lightest].append(index)
        load[lightest] += work(index)
    return [sorted(part) for part in parts]


def _subrequest(request: Any, part: list[int]) -> Any:
    def pick(values: list | None) -> list | None:
        return None if values is None else [values[index] for index in part]

    return dataclasses.replace(
        request,
        circuits=[request.circuits[index] for index in part],
        observables=pick(request.observables),
        parameter_values=pick(request.parameter_values),
        pub_shots=pick(request.pub_shots),
        precisions=pick(request.precisions),
        sources=pick(request.sources),
    )


async def _run_part(executor_cls: type, spec: Any, job_key: str, request: Any, indices: list[int], shots: int) -> Any:
    need = job_state_bytes(spec, [request.circuits[index].num_qubits for index in indices])
    args = (executor_cls, pickle.dumps(spec), job_key, portable(request), indices, shots)
    return await run_call(_child_run, args, need)


async def run_call(function: Any, args: tuple, need: int | None = None) -> Any:
    """``function(*args)`` in a child process (both picklable); its result, or its exception.

    ``need``: bytes the job's largest state takes (``executors.memory``), to explain a death or a
    failed allocation.  A child that dies raises :class:`SimulatorDied` here, for this call only.
    Cancelling the awaiting task stops the child (it is replaced).
    """
    future = _live_pool().schedule(_child_call, (function, args, need))
    try:
        outcome = await asyncio.wrap_future(future)
        usage.add_cpu(outcome.cpu_seconds)  # the child's CPU goes to the job's meter
        return outcome.value
    except ProcessExpired as exc:
        raise SimulatorDied(death_message(exc.exitcode, need, _memory)) from None
    except (BrokenProcessPool, CancelledError):
        if asyncio.current_task() is not None and asyncio.current_task().cancelling():
            raise
        raise TransientError("the simulator processes were restarted; the job will be retried") from None


def death_message(exitcode: int | None, need: int | None, memory: int | None) -> str:
    """What a person is told when the simulator process running their job died with ``exitcode``."""
    if exitcode is not None and exitcode < 0:
        try:
            name = signal.Signals(-exitcode).name
        except ValueError:
            name = f"signal {-exitcode}"
        if -exitcode == signal.SIGKILL:
            text = f"the simulator process was killed ({name}), most likely out of memory"
        else:
            text = f"the simulator process was killed by {name}"
    else:
        text = f"the simulator process exited with code {exitcode}"
    return text + _memory_clause(need, memory)


def _memory_clause(need: int | None, memory: int | None) -> str:
    parts = []
    if need is not None:
        parts.append(f"this job needs about {describe(need)}")
    if memory is not None:
        parts.append(f"a simulator process may use {describe(memory)} (QPORTAL_SIM_MEMORY_MB)")
    return (": " + "; ".join(parts)) if parts else ""


# ---- circuits sent as their source text ---------------------------------------------------------


@dataclass(frozen=True)
class CircuitText:
    """A circuit sent to a child as the OpenQASM text it was parsed from (``ExecutionRequest.sources``)."""

    qasm: str
    name: str


def portable(request: Any) -> Any:
    """``request`` as a child is sent it: each circuit with a source text replaced by a
    :class:`CircuitText` (the texts then travel once, so ``sources`` is dropped)."""
    if request.sources is None:
        return request
    circuits = [
        circuit if source is None else CircuitText(source, circuit.name)
        for circuit, source in zip(request.circuits, request.sources, strict=True)
    ]
    return dataclasses.replace(request, circuits=circuits, sources=None)


def materialize(request: Any) -> Any:
    """The child's side of :func:`portable`: parse the circuits sent as text."""
    if not any(isinstance(circuit, CircuitText) for circuit in request.circuits):
        return request
    from executors.circuits import parse_circuit

    circuits, parsed = [], {}
    for index, circuit in enumerate(request.circuits):
        if isinstance(circuit, CircuitText):
            first = parsed.get(circuit.qasm)
            if first is None:  # a text repeated in the job is parsed once, then copied
                first = parsed[circuit.qasm] = parse_circuit({"qasm": circuit.qasm}, index)
                first.name, circuit = circuit.name, first
            else:
                name, circuit = circuit.name, first.copy()
                circuit.name = name  # copy(name="") would keep first's name
        circuits.append(circuit)
    return dataclasses.replace(request, circuits=circuits)


# ---- child side ---------------------------------------------------------------------------------

_executors: dict[tuple[type, bytes], Any] = {}
_prepared: OrderedDict[str, tuple[Any, Any, Any]] = OrderedDict()  # job key -> executor, prepared, request
_KEEP_PREPARED = 4


# Address space a child keeps beyond its budget and its start-up size: Aer's scratch and result
# objects (an eighth of the state, at least 1 GiB) and, per CPU, an OpenMP thread's stack and malloc
# arena (the measurements behind these: bench/README.md, "Figures behind the code").
_HEADROOM_MIN = 2**30
_HEADROOM_PER_CPU = 80 * 2**20


def address_space_cap(memory_bytes: int, start_bytes: int, cpus: int) -> int:
    """The address-space limit of a child allowed ``memory_bytes`` that starts at ``start_bytes``."""
    return start_bytes + memory_bytes + max(_HEADROOM_MIN, memory_bytes // 8) + cpus * _HEADROOM_PER_CPU


_budget: int | None = None  # in a child: the memory it may use


def _warm_child(parent: int, memory_bytes: int | None, *_classes: type) -> None:
    global _budget
    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # stopped at once, even inside a simulation
    _exit_with_parent(parent)
    if memory_bytes is not None:
        _budget = memory_bytes
        with open("/proc/self/statm") as statm:
            start = int(statm.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
        cap = address_space_cap(memory_bytes, start, os.cpu_count() or 1)
        resource.setrlimit(resource.RLIMIT_AS, (cap, cap))


def _exit_with_parent(parent: int) -> None:
    """A parent killed outright (SIGKILL, out of memory) never shuts its pool down; its children must
    not live on as orphans.

    On Linux the kernel sends this child SIGKILL when the thread that spawned it exits
    (``PR_SET_PDEATHSIG``): no Python code has to run, so a child busy in Aer (which holds its GIL)
    dies too.  Children are therefore spawned only by threads that live as long as their pool (the
    module's start thread, pebble's pool manager).  Elsewhere a thread polls the parent's pid.
    """
    if _kill_me_with_my_parent():
        if os.getppid() != parent:  # the parent died before the signal was armed
            os._exit(0)
        return

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1)
        os._exit(0)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


_PR_SET_PDEATHSIG = 1


def _kill_me_with_my_parent() -> bool:
    """Arm ``PR_SET_PDEATHSIG`` with SIGKILL; False where it is not available (not Linux)."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def _pid_after(seconds: float) -> int:
    time.sleep(seconds)
    return os.getpid()


def _child_call(function: Any, args: tuple, need: int | None) -> Any:
    """Run ``function(*args)``; a failed allocation, or any failure of a job whose state exceeds
    this child's budget, is reported as :class:`SimulatorDied` naming memory.  The answer carries
    the CPU seconds the call took in this child (:class:`~executors.usage.ChildOutcome`)."""
    try:
        start = time.process_time()
        value = function(*args)
        return usage.ChildOutcome(value, time.process_time() - start)
    except MemoryError:
        raise SimulatorDied(_out_of_memory(need)) from None
    except Exception:
        if _budget is not None and need is not None and need > _budget:
            raise SimulatorDied(_out_of_memory(need)) from None
        raise


def _out_of_memory(need: int | None) -> str:
    return "the simulator ran out of memory" + _memory_clause(need, _budget)


def _child_run(executor_cls: type, spec_blob: bytes, job_key: str, request: Any, indices: list[int], shots: int) -> Any:
    key = (executor_cls, spec_blob)
    executor = _executors.get(key)
    if executor is None:
        executor = _executors[key] = executor_cls(pickle.loads(spec_blob))
    if job_key in _prepared:
        _prepared.move_to_end(job_key)
        _, prepared, request = _prepared[job_key]
    else:
        request = materialize(request)
        prepared = executor._prepare(request)
        _prepared[job_key] = (executor, prepared, request)
        while len(_prepared) > _KEEP_PREPARED:
            old_executor, old_prepared, _ = _prepared.popitem(last=False)[1]
            old_executor._finish(old_prepared)
    return executor._execute(request, prepared, indices, shots)
