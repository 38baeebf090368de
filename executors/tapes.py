"""PennyLane tapes <-> Qiskit circuits, for running QNodes on any :class:`~executors.base.Executor`.

A QNode call becomes one or more *counts tapes*: measurements are split into qubit-wise commuting
groups, rotated into the computational basis and replaced by one ``counts`` over the measured
wires; operations are decomposed into gates Qiskit knows.  Each counts tape maps to a
parametrised ``QuantumCircuit`` that is built once per structure and cached, so repeated calls
only bind new angles (the executor sees the same circuit object and can reuse its transpilation).

Qubit ``i`` of the circuit is ``wires[i]`` of the tape and is measured into clbit ``i``; Qiskit
prints clbit 0 rightmost, so a bitstring is reversed to read in PennyLane's wire order.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import pennylane as qml
from pennylane.devices.preprocess import decompose, validate_device_wires
from pennylane.measurements import (
    CountsMP,
    ExpectationMP,
    ProbabilityMP,
    SampleMP,
    VarianceMP,
)
from pennylane.queuing import AnnotatedQueue
from pennylane.tape import QuantumScript
from pennylane.transforms import broadcast_expand, diagonalize_measurements, split_non_commuting
from pennylane.workflow.qnode import _to_qfunc_output_type
from qiskit import QuantumCircuit
from qiskit.circuit import ParameterVector

from executors.base import CircuitResult, InvalidRequest

# PennyLane operation name -> (QuantumCircuit method, number of parameters).
GATES: dict[str, tuple[str, int]] = {
    "PauliX": ("x", 0),
    "PauliY": ("y", 0),
    "PauliZ": ("z", 0),
    "Hadamard": ("h", 0),
    "S": ("s", 0),
    "T": ("t", 0),
    "SX": ("sx", 0),
    "Adjoint(S)": ("sdg", 0),
    "Adjoint(T)": ("tdg", 0),
    "Adjoint(SX)": ("sxdg", 0),
    "CNOT": ("cx", 0),
    "CZ": ("cz", 0),
    "CY": ("cy", 0),
    "SWAP": ("swap", 0),
    "ISWAP": ("iswap", 0),
    "Toffoli": ("ccx", 0),
    "CSWAP": ("cswap", 0),
    "RX": ("rx", 1),
    "RY": ("ry", 1),
    "RZ": ("rz", 1),
    "PhaseShift": ("p", 1),
    "U1": ("p", 1),
    "U3": ("u", 3),
    "CRX": ("crx", 1),
    "CRY": ("cry", 1),
    "CRZ": ("crz", 1),
    "ControlledPhaseShift": ("cp", 1),
    "IsingXX": ("rxx", 1),
    "IsingYY": ("ryy", 1),
    "IsingZZ": ("rzz", 1),
}
# Operations with no effect on measured statistics.
_DROPPED = frozenset({"Identity", "GlobalPhase", "Barrier", "Snapshot"})
_MEASUREMENTS = (CountsMP, ExpectationMP, ProbabilityMP, SampleMP, VarianceMP)
_CACHE_SIZE = 512


def supports_operation(op: qml.operation.Operator) -> bool:
    """True when ``op`` maps to one Qiskit gate (MultiRZ only on one or two wires)."""
    name = op.name
    if name == "MultiRZ":
        return len(op.wires) <= 2
    return name in GATES or name in _DROPPED


@dataclass
class QNodeBatch:
    """The counts tapes of one QNode call and how to turn their counts into the QNode's result."""

    tapes: Sequence[QuantumScript]
    postprocess: Callable[[Sequence[Any]], Any]
    shots: int | None
    interface: str


def build_batch(qnode: qml.QNode, args: tuple, kwargs: dict) -> QNodeBatch:
    """Trace ``qnode(*args, **kwargs)`` into counts tapes (user transforms applied)."""
    queue = AnnotatedQueue()
    with queue:
        qfunc_output = qnode.func(*args, **kwargs)
    tape = QuantumScript.from_queue(queue, qnode.shots)
    shots = tape.shots
    if shots.has_partitioned_shots:
        raise InvalidRequest("shot vectors are not supported by qelectrons; use one shot count")
    pipeline = qnode.compile_pipeline
    user_tapes, user_post = pipeline((tape,)) if len(pipeline) else ((tape,), _first)
    tapes: list[QuantumScript] = []
    slices: list[tuple[int, int, Callable]] = []
    for user_tape in user_tapes:
        counts_tapes, post = counts_batch(user_tape, qnode.device.wires)
        slices.append((len(tapes), len(tapes) + len(counts_tapes), post))
        tapes.extend(counts_tapes)

    def postprocess(results: Sequence[Any]) -> Any:
        per_user_tape = tuple(post(results[lo:hi]) for lo, hi, post in slices)
        return _to_qfunc_output_type(user_post(per_user_tape), qfunc_output, False)

    return QNodeBatch(tapes, postprocess, shots.total_shots, _interface(qnode, args, kwargs))


def counts_batch(
    tape: QuantumScript, device_wires: qml.wires.Wires | None = None
) -> tuple[list[QuantumScript], Callable[[Sequence[Any]], Any]]:
    """Rewrite ``tape`` as tapes ending in one ``counts`` each, plus the post-processing.

    The post-processing takes one counts dict per tape, keyed by bitstrings in the order of that
    tape's counts wires (see :func:`tape_to_circuit`); exact probabilities work as counts too.
    """
    for mp in tape.measurements:
        if not isinstance(mp, _MEASUREMENTS) or mp.mv is not None:
            raise InvalidRequest(
                f"{type(mp).__name__} cannot be computed from samples; return probs, counts, sample, expval or var"
            )
    if tape.batch_size is not None:
        tapes, post = broadcast_expand(tape)
        groups = [counts_batch(t, device_wires) for t in tapes]
        return _join(groups, post)
    if any(not mp.wires and mp.obs is None for mp in tape.measurements):
        (tape,), _ = validate_device_wires(tape, device_wires or tape.wires)
    if any(mp.obs is not None for mp in tape.measurements) and len(tape.measurements) > 1:
        tapes, post = split_non_commuting(tape, grouping_strategy="qwc")
        if len(tapes) > 1:
            return _join([_one_counts_tape(t) for t in tapes], post)
        tape = tapes[0]
    return _one_counts_tape(tape)


def _one_counts_tape(tape: QuantumScript) -> tuple[list[QuantumScript], Callable]:
    if any(mp.obs is not None for mp in tape.measurements):
        (tape,), _ = diagonalize_measurements(tape)
    measured = qml.wires.Wires.all_wires([mp.wires for mp in tape.measurements])
    ops = tape.operations
    if not all(supports_operation(op) for op in ops):
        (tape,), _ = decompose(
            tape,
            stopping_condition=supports_operation,
            skip_initial_state_prep=False,
            name="qelectron",
            error=InvalidRequest,
        )
        ops = tape.operations
    new_tape = QuantumScript(ops, [qml.counts(wires=measured)], shots=tape.shots)
    measurements = tape.measurements
    single = len(measurements) == 1

    def post(results: Sequence[Any]) -> Any:
        counts = results[0]
        values = [mp.process_counts(counts, measured) for mp in measurements]
        return values[0] if single else tuple(values)

    return [new_tape], post


def _join(groups: list[tuple[list[QuantumScript], Callable]], post: Callable) -> tuple:
    tapes: list[QuantumScript] = []
    spans = []
    for group_tapes, group_post in groups:
        spans.append((len(tapes), len(tapes) + len(group_tapes), group_post))
        tapes.extend(group_tapes)

    def joined(results: Sequence[Any]) -> Any:
        return post(tuple(p(results[lo:hi]) for lo, hi, p in spans))

    return tapes, joined


def _first(results: Sequence[Any]) -> Any:
    return results[0]


@dataclass(frozen=True)
class _Template:
    circuit: QuantumCircuit
    num_measured: int


_templates: OrderedDict[tuple, _Template] = OrderedDict()
_templates_lock = threading.Lock()


def tape_to_circuit(tape: QuantumScript) -> tuple[QuantumCircuit, list[float]]:
    """The cached parametrised circuit of a counts tape and this tape's parameter values.

    The circuit's qubits are the counts wires followed by the tape's other wires; the values are
    in ``circuit.parameters`` order.  Tapes that differ only in angles share one circuit object.
    """
    measured = tape.measurements[0].wires
    wires = measured + qml.wires.Wires([w for w in tape.wires if w not in measured])
    ops = [op for op in tape.operations if op.name not in _DROPPED]
    key = (tuple(wires), len(measured), tuple((op.name, tuple(op.wires)) for op in ops))
    values = [float(qml.math.unwrap(p)) for op in ops for p in op.data]
    with _templates_lock:
        template = _templates.get(key)
        if template is not None:
            _templates.move_to_end(key)
    if template is None:
        template = _Template(_build_circuit(ops, wires, len(measured), len(values)), len(measured))
        with _templates_lock:
            _templates[key] = template
            if len(_templates) > _CACHE_SIZE:
                _templates.popitem(last=False)
    return template.circuit, values


def _build_circuit(ops: list, wires: qml.wires.Wires, num_measured: int, num_params: int) -> QuantumCircuit:
    index = {w: i for i, w in enumerate(wires)}
    circuit = QuantumCircuit(max(len(wires), 1), num_measured)
    theta = iter(ParameterVector("θ", num_params))
    for op in ops:
        qubits = [index[w] for w in op.wires]
        if op.name == "MultiRZ":
            method, arity = ("rz" if len(qubits) == 1 else "rzz"), 1
        else:
            method, arity = GATES[op.name]
        getattr(circuit, method)(*[next(theta) for _ in range(arity)], *qubits)
    if num_measured:
        circuit.measure(range(num_measured), range(num_measured))
    return circuit


def pennylane_counts(result: CircuitResult) -> dict[str, float]:
    """A circuit result as counts keyed in PennyLane wire order (exact probabilities if no counts)."""
    source = result.counts if result.counts is not None else result.probabilities
    if source is None:
        raise InvalidRequest("the executor returned neither counts nor probabilities")
    out: dict[str, float] = {}
    for bits, n in source.items():
        key = bits.replace(" ", "")[::-1]
        out[key] = out.get(key, 0) + n
    return out


def _interface(qnode: qml.QNode, args: tuple, kwargs: dict) -> str:
    interface = qnode.interface
    if interface in (None, "auto"):
        interface = qml.math.get_interface(*args, *kwargs.values()) if (args or kwargs) else "numpy"
    return qml.math.Interface(interface).get_like() or "numpy"


def to_interface(result: Any, interface: str) -> Any:
    """Convert a post-processed result to the QNode's interface, keeping its structure."""
    if interface in ("numpy", "autograd"):
        return result
    if isinstance(result, dict):
        return result
    if isinstance(result, (tuple, list)):
        return type(result)(to_interface(r, interface) for r in result)
    return qml.math.asarray(result, like=interface)
