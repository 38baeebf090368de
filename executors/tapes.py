"""PennyLane tapes <-> Qiskit circuits, for running QNodes on any :class:`~executors.base.Executor`.

A QNode call becomes one or more *counts tapes*: measurements are split into qubit-wise commuting
groups, rotated into the computational basis and replaced by one ``counts`` over the measured
wires; operations are decomposed into gates Qiskit knows.  Each counts tape maps to a
parametrised ``QuantumCircuit`` that is built once per structure and cached, so repeated calls
only bind new angles (the executor sees the same circuit object and can reuse its transpilation).
:class:`CallCompiler` goes further for repeated QNode calls: it compiles the whole QNode -> circuit
path once per recorded structure (see its docstring), so a call only records its tape.

Qubit ``i`` of the circuit is ``wires[i]`` of the tape and is measured into clbit ``i``; Qiskit
prints clbit 0 rightmost, so a bitstring is reversed to read in PennyLane's wire order.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pennylane as qml
from pennylane.devices.preprocess import decompose, validate_device_wires
from pennylane.measurements import (
    CountsMP,
    ExpectationMP,
    ProbabilityMP,
    SampleMP,
    VarianceMP,
)
from pennylane.queuing import AnnotatedQueue, process_queue
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
    """The circuits of one QNode call, their parameter values, and how to turn their counts into
    the QNode's result."""

    circuits: list[QuantumCircuit]
    values: list[list[float]]
    postprocess: Callable[[Sequence[Any]], Any]
    shots: int | None
    interface: str


def build_batch(qnode: qml.QNode, args: tuple, kwargs: dict) -> QNodeBatch:
    """Trace ``qnode(*args, **kwargs)`` into circuits (user transforms applied), uncached."""
    ops, measurements, output = _record(qnode, args, kwargs)
    tape = _tape(ops, measurements, qnode)
    return _full_batch(qnode, tape, output, _interface(qnode, args, kwargs))


def _record(qnode: qml.QNode, args: tuple, kwargs: dict) -> tuple[list, list, Any]:
    with AnnotatedQueue() as queue:  # holds PennyLane's (process-global) queue lock
        output = qnode.func(*args, **kwargs)
    ops, measurements = process_queue(queue)
    return ops, measurements, output


def _tape(ops: list, measurements: list, qnode: qml.QNode) -> QuantumScript:
    tape = QuantumScript(ops, measurements, shots=qnode.shots)
    if tape.shots.has_partitioned_shots:
        raise InvalidRequest("shot vectors are not supported by qelectrons; use one shot count")
    return tape


def _counts_program(qnode: qml.QNode, tape: QuantumScript) -> tuple[list[QuantumScript], Callable]:
    """The counts tapes of ``tape`` and a function of their counts giving the user-level result.

    Runs under PennyLane's queue lock: operators made here (decompositions, diagonalising gates)
    would otherwise be appended to whatever tape another thread is recording.
    """
    with AnnotatedQueue._lock:
        pipeline = qnode.compile_pipeline
        user_tapes, user_post = pipeline((tape,)) if len(pipeline) else ((tape,), _first)
        tapes: list[QuantumScript] = []
        slices: list[tuple[int, int, Callable]] = []
        for user_tape in user_tapes:
            counts_tapes, post = counts_batch(user_tape, qnode.device.wires)
            slices.append((len(tapes), len(tapes) + len(counts_tapes), post))
            tapes.extend(counts_tapes)

    def program_post(results: Sequence[Any]) -> Any:
        return user_post(tuple(post(results[lo:hi]) for lo, hi, post in slices))

    return tapes, program_post


def _full_batch(qnode: qml.QNode, tape: QuantumScript, output: Any, interface: str) -> QNodeBatch:
    tapes, post = _counts_program(qnode, tape)
    circuits, values = [], []
    for counts_tape in tapes:
        circuit, params = tape_to_circuit(counts_tape)
        circuits.append(circuit)
        values.append(params)
    return QNodeBatch(circuits, values, _with_output_type(post, output), tape.shots.total_shots, interface)


def _with_output_type(post: Callable, output: Any) -> Callable[[Sequence[Any]], Any]:
    def postprocess(results: Sequence[Any]) -> Any:
        # Under PennyLane's queue lock: ``ProbabilityMP.process_counts`` swaps the global list of
        # recording contexts (``stop_recording``), which drops operators from, or breaks, a tape
        # another thread is recording at that moment.
        with AnnotatedQueue._lock:
            return _to_qfunc_output_type(post(results), output, False)

    return postprocess


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
    circuit, params = _template(tape)
    return circuit, [float(qml.math.unwrap(p)) for p in params]


def _template(tape: QuantumScript) -> tuple[QuantumCircuit, list[Any]]:
    """The cached circuit of a counts tape and the raw gate parameters, in circuit order."""
    measured = tape.measurements[0].wires
    wires = measured + qml.wires.Wires([w for w in tape.wires if w not in measured])
    ops = [op for op in tape.operations if op.name not in _DROPPED]
    key = (tuple(wires), len(measured), tuple((op.name, tuple(op.wires)) for op in ops))
    params = [p for op in ops for p in op.data]
    with _templates_lock:
        template = _templates.get(key)
        if template is not None:
            _templates.move_to_end(key)
    if template is None:
        template = _Template(_build_circuit(ops, wires, len(measured), len(params)), len(measured))
        with _templates_lock:
            _templates[key] = template
            if len(_templates) > _CACHE_SIZE:
                _templates.popitem(last=False)
    return template.circuit, params


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


class _Inspected(BaseException):
    """A placeholder's value was needed: the compiled structure would depend on the values.

    A ``BaseException`` so that no ``except Exception`` on the way can swallow it and take
    another branch silently.
    """


class _Sym:
    """A placeholder for one recorded parameter while a structure is compiled.

    Arithmetic builds the Python expression of a gate angle; anything that would look at the
    value (comparison, truth, conversion to a number, NumPy functions) raises :class:`_Inspected`.
    """

    __slots__ = ("code",)
    __array_ufunc__ = None  # NumPy defers to the reflected operators below
    __hash__ = object.__hash__

    def __init__(self, code: str):
        self.code = code

    def _binary(self, other: Any, op: str, reflected: bool = False) -> _Sym:
        left, right = (_code(other), self.code) if reflected else (self.code, _code(other))
        return _Sym(f"({left}{op}{right})")

    def __add__(self, other: Any) -> _Sym:
        return self._binary(other, "+")

    def __radd__(self, other: Any) -> _Sym:
        return self._binary(other, "+", True)

    def __sub__(self, other: Any) -> _Sym:
        return self._binary(other, "-")

    def __rsub__(self, other: Any) -> _Sym:
        return self._binary(other, "-", True)

    def __mul__(self, other: Any) -> _Sym:
        return self._binary(other, "*")

    def __rmul__(self, other: Any) -> _Sym:
        return self._binary(other, "*", True)

    def __truediv__(self, other: Any) -> _Sym:
        return self._binary(other, "/")

    def __rtruediv__(self, other: Any) -> _Sym:
        return self._binary(other, "/", True)

    def __pow__(self, other: Any) -> _Sym:
        return self._binary(other, "**")

    def __neg__(self) -> _Sym:
        return _Sym(f"(-{self.code})")

    def __pos__(self) -> _Sym:
        return self

    def _inspect(self, *_: Any) -> Any:
        raise _Inspected

    __bool__ = __float__ = __int__ = __index__ = __complex__ = __round__ = _inspect
    __eq__ = __ne__ = __lt__ = __le__ = __gt__ = __ge__ = _inspect  # type: ignore[assignment]


def _code(value: Any) -> str:
    """Python source for a gate parameter: a placeholder expression or a real constant."""
    if isinstance(value, _Sym):
        return value.code
    if isinstance(value, np.ndarray) and value.shape == () and value.dtype == object:
        return _code(value.item())
    if isinstance(value, (bool, np.bool_)):
        raise _Inspected
    constant = float(qml.math.unwrap(value))  # a TypeError for anything that is not a real number
    if not np.isfinite(constant):
        raise _Inspected
    return repr(constant)


@dataclass(frozen=True)
class _Compiled:
    """A structure compiled once: its circuits and the gate angles as a function of the inputs."""

    circuits: tuple[QuantumCircuit, ...]
    splits: tuple[int, ...]  # where each circuit's values end in ``angles(inputs)``
    angles: Callable[[list[float]], list[float]]
    post: Callable[[Sequence[Any]], Any]
    shots: int | None

    def values(self, inputs: list[float]) -> list[list[float]]:
        flat = self.angles(inputs)
        starts = (0, *self.splits[:-1])
        return [[float(v) for v in flat[lo:hi]] for lo, hi in zip(starts, self.splits, strict=True)]


_UNCACHEABLE = object()
_log = logging.getLogger(__name__)


class CallCompiler:
    """Turns calls of one QNode into circuits, compiling each recorded structure once.

    A call records the QNode's function (user code, unavoidable) and keys the recorded tape by
    its structure: operator types, wires and hyperparameters (PennyLane's pytree metadata), the
    shape of every parameter, the measurements with their observables' values, and the shots.
    The first call with a new key runs the full path (user transforms, measurement grouping,
    diagonalisation, decomposition into Qiskit gates), then runs it again with every recorded
    parameter replaced by a placeholder.  If that succeeds without the path ever looking at a
    value, each gate angle is an arithmetic expression of the recorded parameters; they are
    compiled into one Python function and checked against the full path's angles.  Later calls
    with that key only evaluate the function.  Structures that cannot be compiled this way
    (user transforms, broadcasting, value-dependent decompositions such as state preparation,
    complex or boolean parameters) always take the full path.
    """

    def __init__(self, qnode: qml.QNode, size: int = 64):
        self.qnode = qnode
        self.size = size
        self.hits = 0
        self.misses = 0
        self._entries: OrderedDict[Any, Any] = OrderedDict()
        self._lock = threading.Lock()

    def __call__(self, args: tuple, kwargs: dict) -> QNodeBatch:
        qnode = self.qnode
        ops, measurements, output = _record(qnode, args, kwargs)
        interface = _interface(qnode, args, kwargs)
        signature = _signature(ops, measurements, qnode)
        entry = None
        if signature is not None:
            with self._lock:
                entry = self._entries.get(signature[0])
                if entry is not None:
                    self._entries.move_to_end(signature[0])
        if isinstance(entry, _Compiled):
            self.hits += 1
            return QNodeBatch(
                list(entry.circuits),
                entry.values(signature[1]),
                _with_output_type(entry.post, output),
                entry.shots,
                interface,
            )
        self.misses += 1
        tape = _tape(ops, measurements, qnode)
        batch = _full_batch(qnode, tape, output, interface)
        if signature is not None and entry is None:
            key, inputs, structure, shapes = signature
            compiled = _UNCACHEABLE
            if tape.batch_size is None and not len(qnode.compile_pipeline):
                compiled = _compile(qnode, structure, shapes, measurements, batch, inputs) or _UNCACHEABLE
            with self._lock:
                self._entries[key] = compiled
                if len(self._entries) > self.size:
                    self._entries.popitem(last=False)
        return batch


def _signature(ops: list, measurements: list, qnode: qml.QNode) -> tuple | None:
    """``(key, inputs, structure, shapes)`` of a recorded call, or None if it has no usable key.

    ``inputs`` are the recorded parameters flattened to floats, in pytree-leaf order.
    """
    try:
        leaves, structure = qml.pytrees.flatten(ops)
        inputs: list[float] = []
        shapes = []
        for leaf in leaves:
            array = leaf if isinstance(leaf, np.ndarray) else np.asarray(qml.math.unwrap(leaf))
            if array.dtype.kind not in "iuf":
                return None
            shapes.append(array.shape)
            inputs.extend(array.astype(float, copy=False).ravel().tolist())
        measured_leaves, measured_structure = qml.pytrees.flatten(measurements)
        measured_values = tuple(_exact(leaf) for leaf in measured_leaves)
        key = (structure, tuple(shapes), measured_structure, measured_values, qnode.shots)
        hash(key)
    except (TypeError, ValueError):  # unhashable metadata, non-numeric parameters
        return None
    return key, inputs, structure, shapes


def _exact(leaf: Any) -> Any:
    """A hashable key holding every bit of an observable's parameter."""
    if leaf is None:
        return None
    array = np.asarray(qml.math.unwrap(leaf))
    if array.dtype == object:
        raise TypeError("object parameter")
    return array.shape, array.dtype.str, array.tobytes()


def _compile(
    qnode: qml.QNode, structure: Any, shapes: list, measurements: list, batch: QNodeBatch, inputs: list[float]
) -> _Compiled | None:
    """Compile a structure with placeholders (see :class:`CallCompiler`); None if it cannot be."""
    try:
        with AnnotatedQueue._lock:  # the placeholders' operators must not land in another thread's tape
            count = 0
            leaves = []
            for shape in shapes:
                block = np.empty(shape, dtype=object)
                for index in np.ndindex(shape):
                    block[index] = _Sym(f"v[{count}]")
                    count += 1
                leaves.append(block if shape else block[()])
            ops = qml.pytrees.unflatten(leaves, structure)
            tape = QuantumScript(ops, measurements, shots=qnode.shots)
            tapes, post = _counts_program(qnode, tape)
            circuits, codes, splits = [], [], []
            for counts_tape in tapes:
                circuit, params = _template(counts_tape)
                circuits.append(circuit)
                codes.extend(_code(p) for p in params)
                splits.append(len(codes))
        # our own source: indexes into v, float literals, + - * / ** and parentheses
        angles = eval(f"lambda v: [{', '.join(codes)}]", {"__builtins__": {}})  # noqa: S307
    except (_Inspected, Exception) as exc:  # noqa: BLE001 - any failure means: not compilable
        _log.debug("qelectron structure not compiled: %s: %s", type(exc).__name__, exc)
        return None
    compiled = _Compiled(tuple(circuits), tuple(splits), angles, post, batch.shots)
    expected = [v for values in batch.values for v in values]
    same_circuits = len(circuits) == len(batch.circuits) and all(
        a is b for a, b in zip(circuits, batch.circuits, strict=True)
    )
    try:
        got = [v for values in compiled.values(inputs) for v in values]
    except ArithmeticError:
        return None
    if not same_circuits or len(got) != len(expected) or not np.allclose(got, expected, rtol=1e-9, atol=1e-12):
        _log.warning("qelectron structure compiled to different circuits or angles; using the full path")
        return None
    return compiled
