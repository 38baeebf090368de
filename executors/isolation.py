"""Run simulations in worker processes so the caller's event loop stays responsive.

qiskit-aer holds the GIL for a whole simulation (measured: a 33 s run let a 100 ms ticker thread
run once), so running it in a thread freezes every coroutine in the process: heartbeats, websocket
frames, HTTP requests.  A long-running service (the portal's job worker) calls :func:`enable` once;
each batch of circuits then runs in a pool of spawned processes.  Scripts and notebooks that never
call it keep the lower-latency in-thread path.

A circuit whose OpenQASM text the request carries (``ExecutionRequest.sources``) is sent as that
text.  A child caches the executor and the prepared (transpiled) circuits of recent jobs, so the
batches of a per-circuit job prepare once per child.
"""

from __future__ import annotations

import asyncio
import dataclasses
import multiprocessing
import os
import pickle
import threading
import time
from collections import OrderedDict
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import Any

from executors.base import TransientError

_lock = threading.Lock()
_pool: ProcessPoolExecutor | None = None
_size = 0
_warm: tuple[type, ...] = ()


def enable(processes: int, warm: tuple[type, ...] = ()) -> None:
    """Route in-process simulations through ``processes`` worker processes (idempotent).

    ``warm``: executor classes each child loads at start (their modules import qiskit and Aer,
    which takes seconds), instead of on its first job; passed in so this module imports none.
    """
    global _pool, _size, _warm
    with _lock:
        if _pool is None or _size != processes or _warm != tuple(warm):
            if _pool is not None:
                _pool.shutdown(wait=False, cancel_futures=True)
            _warm = tuple(warm)
            _pool = _new_pool(processes)
            _size = processes


def _new_pool(processes: int) -> ProcessPoolExecutor:
    return ProcessPoolExecutor(
        max_workers=processes,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=_warm_child,
        # The parent's pid from the parent: a child that starts after its parent died would
        # otherwise watch its new parent (init) forever. Unpickling the classes imports them.
        initargs=(os.getpid(), *_warm),
    )


def _replace_broken(pool: ProcessPoolExecutor) -> None:
    """A child died (killed, out of memory): a broken pool refuses all work, so start a new one."""
    global _pool
    with _lock:
        if _pool is pool:
            pool.shutdown(wait=False, cancel_futures=True)
            _pool = _new_pool(_size)


def disable() -> None:
    global _pool
    with _lock:
        if _pool is not None:
            _pool.shutdown(wait=False, cancel_futures=True)
        _pool = None


def enabled() -> bool:
    return _pool is not None


def process_ids() -> list[int]:
    """The pids of the pool's running children (none when isolation is off)."""
    pool = _pool
    return [] if pool is None else list(pool._processes or ())


def warm_up() -> None:
    """Start every child now (imports take seconds) instead of on the first job."""
    if _pool is not None:
        list(_pool.map(_noop, range(_size)))


# A batch of at least this many circuits is split across the pool's processes (one simulator call
# in each) when the pool has more than one, so the machine's other cores simulate in parallel.
SPLIT_MIN_CIRCUITS = 8


async def run_batch(executor_cls: type, spec: Any, job_key: str, request: Any, indices: list[int], shots: int) -> Any:
    """Run ``indices`` of ``request`` in child processes; returns the executor's CircuitResult list.

    A large batch is split across the pool's processes (see :func:`split`); the results come back
    in index order either way.
    """
    if _pool is None:
        raise RuntimeError("process isolation is not enabled")
    parts = split(request, indices, _size, seeded=spec.options.get("seed") is not None)
    if len(parts) == 1:
        return await _run_part(executor_cls, spec, job_key, request, indices, shots)
    chunks = await asyncio.gather(
        *(
            _run_part(executor_cls, spec, f"{job_key}.{n}", _subrequest(request, part), list(range(len(part))), shots)
            for n, part in enumerate(parts)
        )
    )
    results = [
        dataclasses.replace(result, index=part[result.index])
        for part, chunk in zip(parts, chunks, strict=True)
        for result in chunk
    ]
    return sorted(results, key=lambda result: result.index)


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
        sources=pick(request.sources),
    )


async def _run_part(executor_cls: type, spec: Any, job_key: str, request: Any, indices: list[int], shots: int) -> Any:
    loop = asyncio.get_running_loop()
    pool = _pool
    try:
        return await loop.run_in_executor(
            pool, _child_run, executor_cls, pickle.dumps(spec), job_key, portable(request), indices, shots
        )
    except BrokenProcessPool:
        _replace_broken(pool)
        raise TransientError("the simulator process died; the job will be retried") from None


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


def _warm_child(parent: int, *_classes: type) -> None:
    _exit_with_parent(parent)


def _exit_with_parent(parent: int) -> None:
    """A parent killed outright (SIGKILL, out of memory) never shuts its pool down; without this
    its children would live on as orphans."""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1)
        os._exit(0)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def _noop(_: int) -> None:
    return None


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
