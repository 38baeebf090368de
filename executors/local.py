"""The qiskit-aer simulators that run in this process.

:class:`LocalSimulatorExecutor` (profile kind ``local``) runs ideal simulations with qiskit-aer's
SamplerV2 and EstimatorV2.  Options (``ExecutorSpec.options``, the request's own over them):
``seed`` or ``simulator.seed_simulator`` (int, reproducible sampling), ``default_shots``,
``default_precision`` (estimator), ``method`` (an AerSimulator method such as ``"statevector"`` or
``"matrix_product_state"``).  Estimator results are exact expectation values plus Gaussian noise
of width 1/sqrt(shots), the spread a real shot-based estimate would have; ``stds`` reports that
width.  Any other primitive option (resilience, twirling...) has no effect on an ideal simulator
and is listed in the result's ``ignored_options``.  Sampler circuits that measure only at the
end, into one classical register of at most 20 bits, are sampled from their exact measured
distribution (``_sample_exactly``) rather than by SamplerV2: tiny jobs with any method
(``runs_inline``), bigger ones on a statevector of at most 24 qubits.

:class:`AerSamplerExecutor` is the lean sampler-only executor qelectrons run on by default: one
cached ``AerSimulator``, each circuit prepared once, concurrent requests simulated together.
"""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, NamedTuple

import numpy as np
from qiskit import QuantumCircuit, transpile
from qiskit.circuit import ControlFlowOp, ControlledGate, Gate, ParameterExpression
from qiskit.result import Result
from qiskit.transpiler import Target
from qiskit_aer import AerSimulator
from qiskit_aer.library import SaveProbabilities
from qiskit_aer.primitives import EstimatorV2, SamplerV2

from executors.base import CircuitResult, ExecutionRequest, ExecutionResult, ExecutorSpec, InvalidRequest
from executors.circuits import operation_names
from executors.inprocess import InProcessExecutor
from executors.job_options import effective_options, ignored_options, precision_of, seed_of
from executors.pubs import bind_parameters, build_pubs, estimator_circuit, estimator_precision, is_swept, pub_form
from executors.results import convert_estimator_result, convert_sampler_result, jsonable, pack_shots
from executors.taskjobs import TaskJobs

# Directives Aer executes although its target does not list them.
_DIRECTIVES = frozenset({"barrier"})
# Below Aer's statevector_parallel_threshold its OpenMP threads cost more than they save
# (benchmark 3).
_PARALLEL_QUBITS = 14
# Jobs within these bounds run in the caller's thread even with process isolation (runs_inline).
_STATEVECTOR_LIKE = frozenset({"automatic", "statevector", "stabilizer"})
_INLINE_QUBITS = 8
_INLINE_OPERATIONS = 64  # over all circuits of the job, measurements included
_INLINE_SHOTS = 4096  # shots x circuits
# AerSamplerExecutor
_READY_CACHE = 512  # prepared circuits kept per executor
_EXACT_MAX_CLBITS = 20  # wider circuits are shot-simulated rather than given 2**n probabilities
_EXACT_MAX_QUBITS = 24  # a batch beyond the inline bounds is sampled exactly up to a 256 MiB state
# Aer's OpenMP threads cost far more than they save on small circuits (benchmark 1).
_ONE_THREAD = {"max_parallel_threads": 1, "max_parallel_shots": 1, "max_parallel_experiments": 1}
_IDLE_SECONDS = 10.0  # a batching thread exits after this long without work
_aer_lock = threading.Lock()


@lru_cache(maxsize=8)
def _simulator(method: str) -> AerSimulator:
    return AerSimulator(method=method)


@lru_cache(maxsize=8)
def _target(method: str) -> Target:
    # AerSimulator.target builds a new Target on every access: build it once.
    return _simulator(method).target


@dataclass
class _Prepared:
    circuits: list[QuantumCircuit]
    transpiled: list[int]


class LocalSimulatorExecutor(InProcessExecutor):
    """Runs circuits on an ideal Aer simulator in this process (see the module docstring)."""

    def __init__(self, spec: ExecutorSpec | None = None):
        super().__init__(spec or ExecutorSpec(kind="local"))
        self.method = str(self.spec.options.get("method") or "automatic")
        self.name = self.spec.backend or "aer_simulator"
        self._backend = _simulator(self.method)
        self._target = _target(self.method)
        self._supported = frozenset(self._target.operation_names) | _DIRECTIVES

    def max_qubits(self) -> int | None:
        return self._backend.configuration().n_qubits

    def runs_inline(self, request: ExecutionRequest, shots: int) -> bool:
        """True for a job small enough to run in the caller's thread even with isolation on.

        The hop to a child process (pickling both ways, a process round trip) costs more than such
        a simulation, and it holds the GIL only briefly (the bounds' measurements: bench/README.md,
        "Figures behind the code").
        Only sampler circuits that measure at the end qualify: Aer then evolves the state once and
        samples the shots from it, whereas a circuit that measures mid-way or resets is simulated
        shot by shot.
        """
        if request.primitive != "sampler" or self.method not in _STATEVECTOR_LIKE or pub_form(request):
            return False
        if shots * len(request.circuits) > _INLINE_SHOTS:
            return False
        operations = 0
        for circuit in request.circuits:
            count = _operations_if_measured_at_end(circuit)
            if count is None or circuit.num_qubits > _INLINE_QUBITS:
                return False
            operations += count
        return operations <= _INLINE_OPERATIONS

    def _samples_exactly(self, circuits: list[QuantumCircuit], indices: list[int]) -> bool:
        """True when a bigger sampler batch is also drawn from its exact distributions: a
        statevector of at most ``_EXACT_MAX_QUBITS`` qubits.  SamplerV2 samples every shot and
        returns a bit array per shot: for 16 qubits and 100,000 shots that took 0.3 s a circuit
        against 0.02 s for the state and one draw (bench/README.md, big jobs)."""
        if self.method not in ("automatic", "statevector"):
            return False
        return all(circuits[index].num_qubits <= _EXACT_MAX_QUBITS for index in indices)

    def needs_transpile(self, circuit: QuantumCircuit) -> bool:
        """True when the circuit uses an operation Aer cannot run directly (e.g. a custom gate)."""
        return not operation_names(circuit) <= self._supported

    def _prepare(self, request: ExecutionRequest) -> _Prepared:
        circuits, transpiled = [], []
        for index, circuit in enumerate(request.circuits):
            if request.primitive == "estimator":
                circuit = estimator_circuit(circuit)
            # Aer 0.17 binds some parameter expressions wrongly (crz(a + b) after rx(b) loses the
            # rx), so values are assigned here, exactly, rather than passed to Aer as bindings.
            circuit = bind_parameters(request, index, circuit)
            if is_swept(request, index) and _binds_wrongly(circuit):  # a sweep's bindings go to Aer
                circuit = transpile(circuit, basis_gates=_rebased(circuit), optimization_level=0)
                transpiled.append(index)
            elif self.needs_transpile(circuit):
                circuit = transpile(circuit, target=self._target, optimization_level=0)
                transpiled.append(index)
            circuits.append(circuit)
        return _Prepared(circuits, transpiled)

    def _execute(
        self, request: ExecutionRequest, prepared: _Prepared, indices: list[int], shots: int
    ) -> list[CircuitResult]:
        pubs = build_pubs(request, prepared.circuits, indices, values_bound=True)
        backend_options: dict[str, Any] = {"method": self.method}
        if max(prepared.circuits[index].num_qubits for index in indices) < _PARALLEL_QUBITS:
            backend_options["max_parallel_threads"] = 1
        options: dict[str, Any] = {"backend_options": backend_options}
        merged = effective_options(self.spec.options, request.options) if request.options else self.spec.options
        seed = seed_of(merged)
        started = time.perf_counter()
        if request.primitive == "sampler":
            exact = not pub_form(request, indices)  # a sweep or a PUB's own shots: SamplerV2
            if exact and (self.runs_inline(request, shots) or self._samples_exactly(prepared.circuits, indices)):
                exact = _sample_exactly(self._backend, prepared.circuits, indices, shots, seed, memory=request.memory)
                if exact is not None:
                    return exact
            sampler = SamplerV2(default_shots=shots, seed=seed, options=options)
            result = sampler.run(pubs, shots=shots).result()
            call = _call_metadata(started, len(pubs))
            return convert_sampler_result(result, indices, call, memory=request.memory)
        if seed is not None:
            options["run_options"] = {"seed_simulator": seed}
        estimator = EstimatorV2(options=options)
        precision = precision_of("estimator", merged) or estimator_precision(shots)
        result = estimator.run(pubs, precision=precision).result()
        call = _call_metadata(started, len(pubs))
        return convert_estimator_result(result, indices, shots, call, pub_form(request, indices))

    def _metadata(self, request: ExecutionRequest, prepared: _Prepared) -> dict[str, Any]:
        merged = effective_options(self.spec.options, request.options)
        return {
            "backend": self.name,
            "method": self.method,
            "transpiled": prepared.transpiled,
            "ignored_options": ignored_options(request.primitive, merged, "local"),
        }


def _binds_wrongly(circuit: QuantumCircuit) -> bool:
    """True when the circuit has a parametrised controlled gate (crx, cry, crz, cp, cu1...):
    Aer 0.17 binds those wrongly from a sweep's bindings (tests/executors/test_sweeps.py)."""
    return any(
        isinstance(instruction.operation, ControlledGate) and _parametrised(instruction.operation)
        for instruction in circuit.data
    )


def _rebased(circuit: QuantumCircuit) -> list[str]:
    """Basis gates that keep every operation but the parametrised controlled gates, which become
    ``u`` and ``cx`` (whose bindings Aer applies rightly)."""
    kept = {
        instruction.operation.name
        for instruction in circuit.data
        if not (isinstance(instruction.operation, ControlledGate) and _parametrised(instruction.operation))
    }
    return sorted(kept | {"u", "cx"})


def _parametrised(operation: Any) -> bool:
    return any(isinstance(param, ParameterExpression) and param.parameters for param in operation.params)


def _operations_if_measured_at_end(circuit: QuantumCircuit) -> int | None:
    """The number of operations when no qubit is touched after its measurement and nothing resets
    or branches; otherwise None."""
    measured: set = set()
    for instruction in circuit.data:
        name = instruction.operation.name
        if name in ("reset", "initialize") or isinstance(instruction.operation, ControlFlowOp):
            return None
        if name == "measure":
            measured.update(instruction.qubits)
        elif name != "barrier" and measured.intersection(instruction.qubits):
            return None
    return len(circuit.data)


def _call_metadata(started: float, pubs: int) -> dict[str, Any]:
    return {"call_time": time.perf_counter() - started, "pubs_in_call": pubs}


def _sample_exactly(
    simulator: AerSimulator,
    circuits: list[QuantumCircuit],
    indices: list[int],
    shots: int,
    seed: int | None,
    *,
    memory: bool = False,
) -> list[CircuitResult] | None:
    """Results of a tiny sampler job from each circuit's exact measured distribution
    (:class:`_ExactPlan`, one Aer run in this thread), or None when a circuit needs shot-by-shot
    simulation (mid-circuit measurements, several registers, nothing measured).  With ``memory``
    each shot is drawn on its own, in order, and the counts are their tally.

    What ``SamplerV2`` would sample, without its job thread and per-shot bit arrays, which cost
    more than a Bell circuit's simulation (benchmark 2).
    """
    plans = [_ExactPlan.of(circuits[index]) for index in indices]
    if any(plan is None or not plan.clbits for plan in plans):
        return None
    started = time.perf_counter()
    options: dict[str, Any] = {"shots": 1}  # the simulator's own method applies
    if max(circuits[index].num_qubits for index in indices) < _PARALLEL_QUBITS:
        options.update(_ONE_THREAD)  # below this Aer's threads cost more than they save
    if seed is not None:
        options["seed_simulator"] = seed
    result = run_here(simulator, [plan.circuit for plan in plans], None, options)
    if not result.success:  # e.g. a state too large for this machine: SamplerV2 says why
        return None
    rng = np.random.default_rng(seed)
    call = {"sampled_from": "exact probabilities", **_call_metadata(started, len(plans))}
    results = []
    for number, (index, plan) in enumerate(zip(indices, plans, strict=True)):
        probabilities = result.data(number)["probabilities"]
        if memory:
            counts, shot_values = plan.sample_shots(probabilities, shots, rng)
        else:
            counts, shot_values = plan.sample(probabilities, shots, rng), None
        circuit = circuits[index]
        results.append(
            CircuitResult(
                index=index,
                shots=shots,
                counts=counts,
                register_counts={circuit.cregs[0].name: dict(counts)},
                probabilities={bits: n / shots for bits, n in counts.items()},
                metadata={"shots": shots, "circuit_metadata": jsonable(circuit.metadata or {}), **call},
                memory=None if shot_values is None else pack_shots(shot_values, plan.num_clbits),
                memory_bits=None if shot_values is None else plan.num_clbits,
            )
        )
    return results


def run_here(
    simulator: AerSimulator, circuits: list[QuantumCircuit], binds: list[dict] | None, options: dict
) -> Result:
    """One Aer job, simulated in this thread.

    ``AerSimulator.run`` hands every job to qiskit-aer's single worker thread and waits for it;
    that hand-over costs more than a small job's simulation (benchmarks 1 and 2).
    The function that worker runs is called here instead (qiskit-aer is pinned; the public
    path is the fallback), one job at a time as with Aer's worker.
    """
    execute = getattr(simulator, "_execute_circuits_job", None)
    if execute is None:
        return simulator.run(circuits, parameter_binds=binds, **options).result()
    with _aer_lock:
        return execute(circuits, binds, dict(options), str(uuid.uuid4()))


class _Pending(NamedTuple):
    request: ExecutionRequest
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future
    queued: float


def _deliver(outcomes: list[tuple[asyncio.Future, Any]]) -> None:
    """Resolve asyncio futures on their loop (cancelled ones are left alone)."""
    for future, outcome in outcomes:
        if future.done():
            continue
        if isinstance(outcome, BaseException):
            future.set_exception(outcome)
        else:
            future.set_result(outcome)


class AerSamplerExecutor(TaskJobs):
    """A lean sampler-only Aer executor for qelectrons: one cached ``AerSimulator``, circuits
    transpiled once per circuit object (only if Aer lacks a gate), angles bound at run time.

    It samples for real: a circuit whose only non-unitary operations are final measurements gets
    its measured distribution from one Aer statevector run and its shots as one multinomial draw
    from it (see :class:`_ExactPlan`); any other circuit is shot-simulated by Aer.  ``seed`` makes
    a sequence of runs reproducible.  A request with ``memory`` gets each shot's outcome: drawn shot
    by shot from the same distribution, or read from Aer's per-shot memory.
    Requests awaited concurrently through :meth:`run` are simulated together: one worker thread
    takes every pending request with the same shots and runs them as one Aer job, each circuit
    once with all of its pending angle sets as ``parameter_binds``.  Aer's fixed cost per job
    (assembly, configuration, result objects) then is paid once per batch instead of once per
    call.  Seeded executors (and subclasses overriding :meth:`run_sync`) run each request alone.
    """

    def __init__(self, *, shots: int = 1024, seed: int | None = None, name: str = "aer_sampler", max_batch: int = 256):
        self.name = name
        self.shots = shots
        self.max_batch = max_batch
        self._seed = seed
        self._runs = 0
        self._simulator = _aer()
        self._supported = frozenset(self._simulator.target.operation_names) | {"measure", "barrier"}
        self._ready: dict[int, tuple[QuantumCircuit, QuantumCircuit, tuple]] = {}
        self._lock = threading.Lock()
        self._pending: deque[_Pending] = deque()
        self._wake = threading.Condition(self._lock)
        self._worker: threading.Thread | None = None

    def max_qubits(self) -> int | None:
        return self._simulator.configuration().n_qubits

    def validate(self, request: ExecutionRequest) -> None:
        if request.primitive != "sampler":
            raise InvalidRequest(f"{self.name} only samples; use LocalSimulatorExecutor for estimator jobs")
        limit = self.max_qubits()
        for index, circuit in enumerate(request.circuits):
            if circuit.num_qubits > limit:
                raise InvalidRequest(
                    f"circuit {index} needs {circuit.num_qubits} qubits; {self.name} has {limit}", index=index
                )
            if circuit.num_clbits == 0:
                raise InvalidRequest(f"circuit {index} has no measurements", index=index)
            values = request.parameter_values[index] if request.parameter_values else None
            if len(values or ()) != circuit.num_parameters:
                raise InvalidRequest(
                    f"circuit {index} has {circuit.num_parameters} parameters; got {len(values or ())} values",
                    index=index,
                )

    async def run(self, request: ExecutionRequest) -> ExecutionResult:
        """Simulate in a worker thread (batched with concurrent requests), so the caller's loop stays free."""
        loop = asyncio.get_running_loop()
        if self._seed is not None or type(self).run_sync is not AerSamplerExecutor.run_sync:
            # seeded: results must not depend on how calls happened to batch; a subclass that
            # overrides run_sync (to record or wrap runs) keeps seeing every run
            return await loop.run_in_executor(None, self.run_sync, request)
        self.validate(request)
        future = loop.create_future()
        with self._lock:
            self._pending.append(_Pending(request, loop, future, time.perf_counter()))
            if self._worker is None:
                self._worker = threading.Thread(target=self._work, name=f"{self.name}-batcher", daemon=True)
                self._worker.start()
            self._wake.notify()
        return await future

    def run_sync(self, request: ExecutionRequest) -> ExecutionResult:
        """Simulate in the calling thread (what a synchronous qelectron call uses)."""
        self.validate(request)
        return self._simulate([request], [time.perf_counter()])[0]

    def _work(self) -> None:
        while True:
            with self._lock:
                while not self._pending:
                    if not self._wake.wait(timeout=_IDLE_SECONDS) and not self._pending:
                        self._worker = None  # idle: the next run starts a new worker
                        return
                batch = [self._pending.popleft()]
                shots = batch[0].request.shots or self.shots
                size = len(batch[0].request.circuits)
                keep: list[_Pending] = []
                while self._pending and size < self.max_batch:
                    item = self._pending.popleft()
                    if (item.request.shots or self.shots) == shots:
                        batch.append(item)
                        size += len(item.request.circuits)
                    else:
                        keep.append(item)
                self._pending.extendleft(reversed(keep))
            self._run_batch(batch)

    def _run_batch(self, batch: list[_Pending]) -> None:
        """Simulate ``batch`` as one job; resolve each request's future on its own loop."""
        outcomes: list[tuple[_Pending, Any]] = []
        live: list[_Pending] = []
        for item in batch:
            if item.future.cancelled():
                continue
            try:
                for circuit in item.request.circuits:
                    self._prepared(circuit)  # a circuit Aer cannot take fails its own request only
            except Exception as exc:  # noqa: BLE001 - handed to that request's caller
                outcomes.append((item, exc))
            else:
                live.append(item)
        if live:
            try:
                results: list[Any] = self._simulate([i.request for i in live], [i.queued for i in live])
            except Exception as exc:  # noqa: BLE001 - every request of the failed job gets the error
                results = [exc] * len(live)
            outcomes.extend(zip(live, results, strict=True))
        by_loop: dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Future, Any]]] = {}
        for item, outcome in outcomes:
            by_loop.setdefault(item.loop, []).append((item.future, outcome))
        for loop, resolved in by_loop.items():
            try:
                loop.call_soon_threadsafe(_deliver, resolved)
            except RuntimeError:  # that loop is closed; nobody waits for these
                pass

    def _simulate(self, requests: list[ExecutionRequest], starts: list[float]) -> list[ExecutionResult]:
        """At most two Aer jobs for ``requests`` (same shots): one computing the measured
        probabilities of every circuit with only final measurements, one shot simulation for the
        rest.  Each circuit appears once per job, with all its angle sets."""
        shots = requests[0].shots or self.shots
        exact, sampled = _AerJob(), _AerJob()
        placed: list[tuple[_AerJob, int, int, _ExactPlan | None]] = []
        for request in requests:
            values = request.parameter_values or [None] * len(request.circuits)
            for circuit, circuit_values in zip(request.circuits, values, strict=False):
                ready, parameters, plan = self._prepared(circuit)
                job = sampled if plan is None else exact
                position, number = job.add(ready if plan is None else plan.circuit, parameters, circuit_values)
                placed.append((job, position, number, plan))
        with self._lock:
            seed = None if self._seed is None else self._seed + self._runs
            self._runs += 1
        exact_result = exact.run(self, 1, seed) if exact.circuits else None
        keep_shots = any(request.memory for request in requests)
        sampled_result = sampled.run(self, shots, seed, memory=keep_shots) if sampled.circuits else None
        rng = np.random.default_rng(seed)
        finished = time.perf_counter()
        out: list[ExecutionResult] = []
        placed_iter = iter(placed)
        for request, started in zip(requests, starts, strict=True):
            results = []
            for index in range(len(request.circuits)):
                job, position, number, plan = next(placed_iter)
                experiment = job.experiment(position, number)
                shot_values, num_bits = None, request.circuits[index].num_clbits
                if plan is None:
                    counts = sampled_result.get_counts(experiment)
                    if request.memory:
                        outcomes = sampled_result.get_memory(experiment)
                        shot_values = np.fromiter((int(o.replace(" ", ""), 2) for o in outcomes), np.uint64)
                elif request.memory:
                    probabilities = exact_result.data(experiment)["probabilities"]
                    counts, shot_values = plan.sample_shots(probabilities, shots, rng)
                else:
                    counts = plan.sample(exact_result.data(experiment)["probabilities"], shots, rng)
                results.append(
                    CircuitResult(
                        index=index,
                        shots=shots,
                        counts=counts,
                        probabilities={bits: n / shots for bits, n in counts.items()},
                        memory=None if shot_values is None else pack_shots(shot_values, num_bits),
                        memory_bits=None if shot_values is None else num_bits,
                    )
                )
            metadata = {"backend": "aer_simulator", "batch": len(requests)}
            out.append(ExecutionResult(results, finished - started, metadata=metadata))
        return out

    def _execute(self, circuits: list[QuantumCircuit], binds: list[dict] | None, options: dict) -> Result:
        return run_here(self._simulator, circuits, binds, options)

    def _prepared(self, circuit: QuantumCircuit) -> tuple[QuantumCircuit, tuple, _ExactPlan | None]:
        entry = self._ready.get(id(circuit))
        if entry is None or entry[0] is not circuit:
            ready = circuit
            if any(i.operation.name not in self._supported for i in circuit.data):
                ready = transpile(circuit, self._simulator, optimization_level=0)
            entry = (circuit, ready, tuple(ready.parameters), _ExactPlan.of(ready))
            if len(self._ready) >= _READY_CACHE:
                self._ready.clear()
            self._ready[id(circuit)] = entry
        return entry[1], entry[2], entry[3]


class _AerJob:
    """The circuits of one Aer job; a parametrised circuit appears once, with all its angle sets."""

    def __init__(self) -> None:
        self.circuits: list[QuantumCircuit] = []
        self.binds: list[dict] = []
        self._slots: dict[int, int] = {}  # id(circuit) -> position in ``circuits``
        self._first: list[int] | None = None

    def add(self, circuit: QuantumCircuit, parameters: tuple, values: Sequence[float] | None) -> tuple[int, int]:
        """Add one run of ``circuit``; returns its (position, binding number)."""
        position = self._slots.get(id(circuit)) if parameters else None
        if position is None:
            position = len(self.circuits)
            self.circuits.append(circuit)
            self.binds.append({p: [] for p in parameters})
            if parameters:
                self._slots[id(circuit)] = position
        bind = self.binds[position]
        for p, v in zip(parameters, values or (), strict=True):
            bind[p].append(v)
        return position, (len(bind[parameters[0]]) - 1 if parameters else 0)

    def run(self, executor: AerSamplerExecutor, shots: int, seed: int | None, memory: bool = False) -> Result:
        options: dict[str, Any] = {"shots": shots}
        if memory:
            options["memory"] = True  # each shot's outcome, in order
        if max(c.num_qubits for c in self.circuits) < _PARALLEL_QUBITS:
            options.update(_ONE_THREAD)  # small jobs run single-threaded
        if seed is not None:
            options["seed_simulator"] = seed
        return executor._execute(self.circuits, self.binds if any(self.binds) else None, options)

    def experiment(self, position: int, number: int) -> int:
        """Aer lays experiments out circuit by circuit, each circuit's bindings in order."""
        if self._first is None:
            self._first = [0]
            for bind in self.binds[:-1]:
                self._first.append(self._first[-1] + (len(next(iter(bind.values()))) if bind else 1))
        return self._first[position] + number


@dataclass(frozen=True)
class _ExactPlan:
    """How to sample a circuit whose only non-unitary operations are final measurements.

    Aer computes the exact distribution of the measured qubits once (``save_probabilities``, one
    statevector run) and the shots are drawn from it as one multinomial sample.  For such a
    circuit this is the same distribution Aer's own measurement sampling draws from, shot by
    shot; Aer's formatting of each shot's outcome costs more than the whole simulation of a
    small circuit (benchmark 1) (and what PennyLane's ``default.qubit`` does with shots as well).
    """

    circuit: QuantumCircuit  # the unitary part, then save_probabilities over the measured qubits
    clbits: tuple[int, ...]  # the clbit of probability-index bit j (bit 0 least significant)
    num_clbits: int

    @classmethod
    def of(cls, circuit: QuantumCircuit) -> _ExactPlan | None:
        """The plan of ``circuit``, or None if it needs a shot-by-shot simulation."""
        if len(circuit.cregs) != 1 or circuit.num_clbits > _EXACT_MAX_CLBITS:
            return None  # several registers: Aer's keys have spaces; too wide: 2**n probabilities
        body = circuit.copy_empty_like()
        measured: dict[int, int] = {}  # clbit -> qubit
        for instruction in circuit.data:
            operation = instruction.operation
            qubits = [circuit.find_bit(q).index for q in instruction.qubits]
            if operation.name == "measure":
                clbit = circuit.find_bit(instruction.clbits[0]).index
                if clbit in measured or qubits[0] in measured.values():
                    return None
                measured[clbit] = qubits[0]
            elif operation.name == "barrier":
                continue
            elif not isinstance(operation, Gate) or instruction.clbits or set(qubits) & set(measured.values()):
                return None  # resets, control flow, mid-circuit measurements...
            else:
                body.append(instruction)
        clbits = tuple(sorted(measured))
        body.append(SaveProbabilities(len(clbits), label="probabilities"), [measured[c] for c in clbits])
        return cls(body, clbits, circuit.num_clbits)

    def sample(self, probabilities: Any, shots: int, rng: np.random.Generator) -> dict[str, int]:
        """Counts of ``shots`` draws, keyed like Aer's (clbit 0 rightmost, unmeasured clbits 0)."""
        drawn = rng.multinomial(shots, _normalised(probabilities))
        width = self.num_clbits
        direct = self.clbits == tuple(range(width))
        counts: dict[str, int] = {}
        for index in np.flatnonzero(drawn).tolist():
            if direct:
                key = format(index, f"0{width}b")
            else:
                bits = ["0"] * width
                for j, clbit in enumerate(self.clbits):
                    if index >> j & 1:
                        bits[width - 1 - clbit] = "1"
                key = "".join(bits)
            counts[key] = int(drawn[index])
        return counts

    def sample_shots(
        self, probabilities: Any, shots: int, rng: np.random.Generator
    ) -> tuple[dict[str, int], np.ndarray]:
        """``shots`` draws one by one, in order: (their counts, keyed as :meth:`sample` keys them,
        and each shot's outcome as an integer over all clbits, clbit 0 the lowest bit)."""
        p = _normalised(probabilities)
        drawn = rng.choice(len(p), size=shots, p=p)
        if self.clbits == tuple(range(self.num_clbits)):
            values = drawn.astype(np.uint64)
        else:  # probability index bit j is clbit self.clbits[j]
            table = np.zeros(len(p), dtype=np.uint64)
            positions = np.arange(len(p), dtype=np.uint64)
            for j, clbit in enumerate(self.clbits):
                table |= ((positions >> np.uint64(j)) & np.uint64(1)) << np.uint64(clbit)
            values = table[drawn]
        outcomes, tallies = np.unique(values, return_counts=True)
        width = f"0{self.num_clbits}b"
        counts = {format(int(v), width): int(n) for v, n in zip(outcomes, tallies, strict=True)}
        return counts, values


def _normalised(probabilities: Any) -> np.ndarray:
    p = np.clip(np.asarray(probabilities, dtype=float), 0.0, None)
    return p / p.sum()


@lru_cache(maxsize=1)
def _aer() -> AerSimulator:
    return AerSimulator()
