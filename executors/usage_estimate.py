"""An estimate of the QPU seconds a job takes, from the backend's target, before it is submitted.

The method (also in the README, "Usage and budgets"):

1. Durations come from the backend's ``Target``: for each operation, the mean of its calibrated
   durations over the qubits it is defined on (``measure`` is the readout).  Without a target (an
   unknown backend) the ``DEFAULT_DURATIONS`` below, typical of IBM's Eagle devices, are used.
2. Each circuit is scheduled as soon as possible, one clock per qubit: an operation starts when all
   of its qubits are free and holds them for its duration.  Operations not in the target are
   priced as the device would run them: a diagonal one-qubit gate (``rz``, ``s``, ``t``, ``p``...)
   is virtual (0 s), any other one-qubit gate two ``sx`` pulses, any two-qubit gate the target's
   mean two-qubit gate, a gate on three or more qubits is decomposed first; ``barrier`` takes no
   time and ``delay`` its own.  The circuit's duration is the latest clock.
3. One shot takes the circuit's duration plus the backend's ``rep_delay`` (its configuration's
   ``default_rep_delay``; 250 us when unknown).  A circuit runs once per parameter binding of its
   PUB (a sweep of 50 values: 50 runs) and, for the estimator, once per observable term of each
   binding (an upper bound: IBM measures commuting terms together); a PUB's own ``shots`` (sampler)
   or ``precision`` (estimator: ``ceil(1 / precision**2)`` shots) replace the job's.
4. The job's estimate is the sum over circuits of ``shots x runs x (duration + rep_delay)``, plus
   ``JOB_OVERHEAD_SECONDS`` for the job's set-up on the QPU, rounded up to the millisecond.

Not counted: error mitigation's extra circuits (twirling, ZNE), dynamical decoupling pulses, and the
transpiler's SWAPs (the estimate reads the circuits as submitted).  IBM's own figure for a job
(``usage_estimation``) is recorded beside this one once the job is submitted.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import numpy as np
from qiskit import QuantumCircuit

from executors.sweeps import ARRAY_KEY, bindings, is_array_entry, observables_array

JOB_OVERHEAD_SECONDS = 2.0
DEFAULT_REP_DELAY = 250e-6
DEFAULT_DURATIONS = {"sx": 36e-9, "x": 36e-9, "ecr": 660e-9, "measure": 1.56e-6, "reset": 1.6e-6}
VIRTUAL_GATES = frozenset({"rz", "z", "s", "sdg", "t", "tdg", "p", "u1", "id"})
NO_TIME = frozenset({"barrier"})
TIME_UNITS = {"s": 1.0, "ms": 1e-3, "us": 1e-6, "ns": 1e-9, "ps": 1e-12}


@dataclass
class Durations:
    """Mean durations (seconds) per operation name, and the device's time step ``dt``."""

    by_name: dict[str, float]
    dt: float | None = None
    source: str = "target"

    @property
    def one_qubit(self) -> float:
        return self.by_name.get("sx", self.by_name.get("x", DEFAULT_DURATIONS["sx"]))

    @property
    def two_qubit(self) -> float:
        for name in ("ecr", "cz", "cx"):
            if name in self.by_name:
                return self.by_name[name]
        return DEFAULT_DURATIONS["ecr"]

    @property
    def readout(self) -> float:
        return self.by_name.get("measure", DEFAULT_DURATIONS["measure"])


def durations_of(target: Any | None) -> Durations:
    """Mean duration of each operation of ``target`` (a ``qiskit.transpiler.Target``); the defaults
    when it is None."""
    if target is None:
        return Durations(dict(DEFAULT_DURATIONS), None, "defaults")
    means: dict[str, float] = {}
    for name in target.operation_names:
        properties = target[name] or {}
        values = [p.duration for p in properties.values() if p is not None and p.duration is not None]
        if values:
            means[name] = sum(values) / len(values)
    return Durations(means, getattr(target, "dt", None), "target")


@dataclass
class Estimate:
    """``seconds``: the job's estimated QPU seconds; the rest is what it was computed from."""

    seconds: float
    backend: str
    shots: int
    rep_delay: float
    overhead: float
    durations: dict[str, float]
    durations_from: str
    circuits: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "estimated_qpu_seconds": self.seconds,
            "computed_from": {
                "backend": self.backend,
                "durations_from": self.durations_from,
                "shots": self.shots,
                "rep_delay_seconds": self.rep_delay,
                "job_overhead_seconds": self.overhead,
                "one_qubit_gate_seconds": self.durations["one_qubit"],
                "two_qubit_gate_seconds": self.durations["two_qubit"],
                "readout_seconds": self.durations["readout"],
                "circuits": self.circuits,
            },
        }


def _delay_seconds(instruction: Any, dt: float | None) -> float:
    operation = instruction.operation
    unit = getattr(operation, "unit", "dt")
    value = float(operation.params[0]) if operation.params else 0.0
    if unit == "dt":
        return value * (dt or 0.0)
    return value * TIME_UNITS.get(unit, 0.0)


def _op_seconds(instruction: Any, durations: Durations) -> float:
    name = instruction.operation.name
    if name in NO_TIME:
        return 0.0
    if name == "delay":
        return _delay_seconds(instruction, durations.dt)
    if name in durations.by_name:
        return durations.by_name[name]
    qubits = len(instruction.qubits)
    if qubits == 1:
        return 0.0 if name in VIRTUAL_GATES else 2 * durations.one_qubit
    if name == "reset":
        return durations.readout
    return durations.two_qubit


def circuit_seconds(circuit: QuantumCircuit, durations: Durations) -> float:
    """One shot of ``circuit``, scheduled as soon as possible (without the rep delay)."""
    while any(len(instruction.qubits) > 2 and instruction.operation.name != "barrier" for instruction in circuit.data):
        circuit = circuit.decompose()
    clocks = [0.0] * circuit.num_qubits
    index = {qubit: i for i, qubit in enumerate(circuit.qubits)}
    for instruction in circuit.data:
        wires = [index[qubit] for qubit in instruction.qubits]
        if not wires:
            continue
        start = max(clocks[wire] for wire in wires)
        end = start + _op_seconds(instruction, durations)
        for wire in wires:
            clocks[wire] = end
    return max(clocks, default=0.0)


def _runs(observables: Any) -> int:
    """Executions of an estimator circuit (one binding): one per observable term."""
    if observables is None:
        return 1
    if isinstance(observables, str):
        return 1
    return max(1, len(observables))


def _pub_terms(circuit: QuantumCircuit, values: Any, observables: Any, index: int) -> int:
    """Observable terms over a PUB's broadcast (binding, observable) pairs."""
    shape = bindings(circuit, values, index).shape if values is not None else ()
    if not is_array_entry(observables):  # a flat list: every observable at every binding
        return int(np.prod(shape)) * _runs(observables)
    array = observables_array(observables[ARRAY_KEY], circuit.num_qubits, index)
    terms = np.array([len(item) for item in array.ravel().tolist()]).reshape(array.shape)
    return int(np.broadcast_to(terms, np.broadcast_shapes(array.shape, shape)).sum())


def pub_runs(request: Any) -> list[tuple[int, int]]:
    """``(shots, runs)`` per circuit of an ``ExecutionRequest``: its PUB's own shots (or precision's)
    else the job's, and its runs (bindings, times observable terms for the estimator)."""
    rows = []
    estimator = request.primitive == "estimator"
    for i, circuit in enumerate(request.circuits):
        values = request.parameter_values[i] if request.parameter_values else None
        if estimator:
            runs = _pub_terms(circuit, values, request.observables[i] if request.observables else None, i)
        else:
            runs = int(np.prod(bindings(circuit, values, i).shape)) if values is not None else 1
        shots = request.shots
        if not estimator and request.pub_shots and request.pub_shots[i]:
            shots = request.pub_shots[i]
        if estimator and request.precisions and request.precisions[i]:
            shots = math.ceil(1 / request.precisions[i] ** 2)
        rows.append((int(shots), max(1, runs)))
    return rows


def estimate(
    circuits: list[QuantumCircuit],
    shots: int,
    *,
    backend: str,
    target: Any | None = None,
    rep_delay: float | None = None,
    observables: list[Any] | None = None,
    runs: list[tuple[int, int]] | None = None,
) -> Estimate:
    """The job's estimated QPU seconds (see the module docstring for the method); ``runs``: the
    ``(shots, runs)`` of each circuit (:func:`pub_runs`), else ``shots`` and one run per observable term."""
    durations = durations_of(target)
    delay = DEFAULT_REP_DELAY if rep_delay is None else float(rep_delay)
    total = JOB_OVERHEAD_SECONDS
    rows = []
    for i, circuit in enumerate(circuits):
        one_shot = circuit_seconds(circuit, durations)
        if runs is not None:
            circuit_shots, circuit_runs = runs[i]
        else:
            circuit_shots, circuit_runs = shots, _runs(observables[i]) if observables is not None else 1
        seconds = circuit_shots * circuit_runs * (one_shot + delay)
        total += seconds
        row = {"index": i, "shot_seconds": one_shot, "runs": circuit_runs, "seconds": seconds}
        if circuit_shots != shots:
            row["shots"] = circuit_shots
        rows.append(row)
    return Estimate(
        seconds=math.ceil(total * 1000 - 1e-6) / 1000,
        backend=backend,
        shots=shots,
        rep_delay=delay,
        overhead=JOB_OVERHEAD_SECONDS,
        durations={"one_qubit": durations.one_qubit, "two_qubit": durations.two_qubit, "readout": durations.readout},
        durations_from=durations.source,
        circuits=rows,
    )


@lru_cache(maxsize=64)
def backend_target(name: str) -> tuple[Any | None, float | None]:
    """``(target, rep_delay)`` of the fake backend ``name`` or the fake twin of the IBM device
    ``name`` (``ibm_manila`` -> ``fake_manila``); ``(None, None)`` when there is none."""
    from executors.fake_backend import fake_backend  # qiskit-ibm-runtime's fake provider: slow import

    for candidate in (name, "fake_" + name.removeprefix("ibm_")):
        try:
            backend = fake_backend(candidate)
        except Exception:  # noqa: BLE001 - not a fake backend's name: try the next, else defaults
            continue
        return backend.target, getattr(backend.configuration(), "default_rep_delay", None)
    return None, None
