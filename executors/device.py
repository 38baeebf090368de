"""What a device is: a BackendV2 (a fake backend or a cloud ``IBMBackend``) as a JSON-able dict.

:func:`backend_info` is what a backend page and ``GET /api/v1/backends/{name}`` show: qubit
count, processor, basis gates, coupling map, one record per qubit (T1, T2 in seconds, readout
error, single-qubit ``sx`` error), two-qubit gate errors per edge, queue length and the time of
the last calibration.  :func:`calibration_of` is the part of it a job keeps (everything but the
queue), with :func:`calibration_digest` naming it, so jobs run on one calibration share one record.

Values come from ``backend.properties()`` (what IBM publishes, and what a fake backend stores);
a backend without properties is read from its ``target``.  Nothing here imports Django.
"""

from __future__ import annotations

import hashlib
import json
import math
from datetime import datetime
from typing import Any

__all__ = [
    "backend_from_calibration",
    "backend_info",
    "calibration_digest",
    "calibration_of",
    "qubit_coordinates",
    "target_of",
]

# Per-qubit properties kept, as BackendProperties names them (seconds, probabilities, hertz).
_QUBIT_FIELDS = {
    "T1": "t1",
    "T2": "t2",
    "readout_error": "readout_error",
    "prob_meas0_prep1": "prob_meas0_prep1",
    "prob_meas1_prep0": "prob_meas1_prep0",
    "readout_length": "readout_length",
    "frequency": "frequency",
}
_ONE_QUBIT_GATES = ("sx", "x")
_NOT_GATES = frozenset({"measure", "delay", "reset", "barrier", "if_else", "while_loop", "for_loop", "switch_case"})


def _number(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _iso(value: Any) -> str | None:
    return value.isoformat() if isinstance(value, datetime) else (str(value) if value else None)


def _processor(backend: Any) -> str:
    try:
        kind = backend.configuration().processor_type
    except Exception:  # noqa: BLE001 - a BackendV2 without a V1 configuration
        kind = getattr(backend, "processor_type", None)
    if isinstance(kind, dict):
        return " ".join(str(kind[key]) for key in ("family", "revision", "segment") if kind.get(key))
    return str(kind or "")


def _properties(backend: Any) -> Any:
    properties = getattr(backend, "properties", None)
    if properties is None:
        return None
    try:
        return properties()
    except Exception:  # noqa: BLE001 - a backend that publishes none
        return None


def _qubits_from_properties(properties: Any, num_qubits: int) -> list[dict[str, Any]]:
    qubits = []
    for index in range(num_qubits):
        row: dict[str, Any] = {"qubit": index}
        try:
            measured = properties.qubit_property(index)
        except Exception:  # noqa: BLE001 - a qubit without records
            measured = {}
        for name, key in _QUBIT_FIELDS.items():
            value = measured.get(name)
            row[key] = _number(value[0]) if value else None
        for gate in _ONE_QUBIT_GATES:
            try:
                row[f"{gate}_error"] = _number(properties.gate_error(gate, index))
            except Exception:  # noqa: BLE001 - the gate is not calibrated on this qubit
                row[f"{gate}_error"] = None
            try:
                row[f"{gate}_duration"] = _number(properties.gate_length(gate, index))
            except Exception:  # noqa: BLE001 - no recorded length
                row[f"{gate}_duration"] = None
        qubits.append(row)
    return qubits


def _gates_from_properties(properties: Any) -> list[dict[str, Any]]:
    gates = []
    for gate in properties.gates:
        if len(gate.qubits) < 2:
            continue
        values = {p.name: p for p in gate.parameters}
        error = values.get("gate_error")
        length = values.get("gate_length")
        duration = None
        if length is not None:
            duration = _number(length.value)
            if duration is not None and getattr(length, "unit", "") == "ns":
                duration *= 1e-9
        gates.append(
            {
                "gate": gate.gate,
                "qubits": list(gate.qubits),
                "error": _number(error.value) if error is not None else None,
                "duration": duration,
            }
        )
    return sorted(gates, key=lambda g: (g["qubits"], g["gate"]))


def _qubits_from_target(target: Any, num_qubits: int) -> list[dict[str, Any]]:
    qubits = []
    for index in range(num_qubits):
        props = target.qubit_properties[index] if target.qubit_properties else None
        row: dict[str, Any] = {key: None for key in _QUBIT_FIELDS.values()}
        row["qubit"] = index
        row["t1"] = _number(getattr(props, "t1", None))
        row["t2"] = _number(getattr(props, "t2", None))
        row["frequency"] = _number(getattr(props, "frequency", None))
        for name, key in (("measure", "readout"), *((g, g) for g in _ONE_QUBIT_GATES)):
            entry = target[name].get((index,)) if name in target.operation_names else None
            row[f"{key}_error"] = _number(getattr(entry, "error", None))
            row[f"{key}_length" if key == "readout" else f"{key}_duration"] = _number(getattr(entry, "duration", None))
        qubits.append(dict(sorted(row.items(), key=lambda kv: kv[0] != "qubit")))
    return qubits


def _gates_from_target(target: Any) -> list[dict[str, Any]]:
    gates = []
    for name in target.operation_names:
        if name in _NOT_GATES:
            continue
        for qargs, entry in (target[name] or {}).items():
            if qargs is None or len(qargs) < 2:
                continue
            gates.append(
                {
                    "gate": name,
                    "qubits": list(qargs),
                    "error": _number(getattr(entry, "error", None)),
                    "duration": _number(getattr(entry, "duration", None)),
                }
            )
    return sorted(gates, key=lambda g: (g["qubits"], g["gate"]))


def calibration_of(backend: Any) -> dict[str, Any]:
    """The backend's calibration as a JSON-able dict: ``backend``, ``calibrated_at`` (ISO time of
    ``properties().last_update_date``), ``num_qubits``, ``processor``, ``basis_gates``,
    ``coupling_map`` (``[control, target]`` pairs), ``qubits`` (``t1``, ``t2`` in seconds,
    ``readout_error``, ``prob_meas0_prep1``, ``prob_meas1_prep0``, ``readout_length``,
    ``frequency``, ``sx_error``, ``x_error``, ``sx_duration``, ``x_duration``) and ``gates``
    (multi-qubit gates: ``gate``, ``qubits``, ``error``, ``duration`` in seconds).  Blocking for a
    cloud backend whose properties are not loaded yet."""
    num_qubits = int(backend.num_qubits)
    properties = _properties(backend)
    if properties is not None:
        qubits = _qubits_from_properties(properties, num_qubits)
        gates = _gates_from_properties(properties)
        calibrated_at = _iso(getattr(properties, "last_update_date", None))
    else:
        qubits = _qubits_from_target(backend.target, num_qubits)
        gates = _gates_from_target(backend.target)
        calibrated_at = None
    coupling = backend.coupling_map
    edges = sorted([int(a), int(b)] for a, b in coupling.get_edges()) if coupling is not None else []
    basis = sorted(name for name in backend.operation_names if name not in _NOT_GATES)
    return {
        "backend": backend.name,
        "calibrated_at": calibrated_at,
        "num_qubits": num_qubits,
        "processor": _processor(backend),
        "basis_gates": basis,
        "coupling_map": edges,
        "qubits": qubits,
        "gates": gates,
    }


def calibration_digest(calibration: dict[str, Any]) -> str:
    """sha256 of the calibration's canonical JSON: equal calibrations, equal digests."""
    text = json.dumps(calibration, sort_keys=True, separators=(",", ":"), allow_nan=False)
    return hashlib.sha256(text.encode()).hexdigest()


def pending_jobs(backend: Any) -> int | None:
    """``backend.status().pending_jobs`` (blocking for a cloud backend); None when unknown."""
    try:
        return int(backend.status().pending_jobs)
    except Exception:  # noqa: BLE001 - a backend without a status
        return None


def backend_info(backend: Any, *, queue: int | None | bool = True) -> dict[str, Any]:
    """:func:`calibration_of` with ``name`` and ``pending_jobs`` (the queue: read from the backend
    when ``queue`` is True, else the number given; a fake backend's is always 0)."""
    calibration = calibration_of(backend)
    waiting = pending_jobs(backend) if queue is True else (None if queue is False else queue)
    return {"name": calibration["backend"], **calibration, "pending_jobs": waiting}


def qubit_coordinates(num_qubits: int, coupling_map: list[list[int]]) -> list[tuple[float, float]]:
    """A drawing position ``(x, y)`` in [0, 1] for each qubit: a path is drawn as a row, any other
    graph by a seeded spring layout (the same map, the same picture)."""
    if num_qubits == 0:
        return []
    if num_qubits == 1:
        return [(0.5, 0.5)]
    neighbours: dict[int, set[int]] = {q: set() for q in range(num_qubits)}
    for a, b in coupling_map:
        if a != b and 0 <= a < num_qubits and 0 <= b < num_qubits:
            neighbours[a].add(b)
            neighbours[b].add(a)
    path = _as_path(neighbours)
    if path is not None:
        step = 1 / (num_qubits - 1)
        spot = {qubit: n * step for n, qubit in enumerate(path)}
        return [(spot[q], 0.5) for q in range(num_qubits)]
    import rustworkx as rx

    graph = rx.PyGraph()
    graph.add_nodes_from(range(num_qubits))
    graph.add_edges_from_no_data(sorted({(min(a, b), max(a, b)) for a in neighbours for b in neighbours[a]}))
    layout = rx.spring_layout(graph, seed=7, num_iter=300)
    xs = [layout[q][0] for q in range(num_qubits)]
    ys = [layout[q][1] for q in range(num_qubits)]
    span = max(max(xs) - min(xs), max(ys) - min(ys)) or 1.0
    return [((x - min(xs)) / span, (y - min(ys)) / span) for x, y in zip(xs, ys, strict=True)]


def _as_path(neighbours: dict[int, set[int]]) -> list[int] | None:
    """The qubits in path order when the coupling graph is one simple path, else None."""
    ends = [q for q, near in neighbours.items() if len(near) == 1]
    if len(ends) != 2 or any(len(near) > 2 for near in neighbours.values()):
        return None
    order, previous = [min(ends)], None
    while len(order) < len(neighbours):
        following = [q for q in neighbours[order[-1]] if q != previous]
        if not following:
            return None
        previous = order[-1]
        order.append(following[0])
    return order


def _calibrated_backend_class():
    from qiskit.providers import BackendV2, Options

    class _Calibrated(BackendV2):
        """A device as one of its stored calibrations describes it: its ``target`` (gates, errors,
        durations, T1/T2, readout) and nothing to run on.  ``NoiseModel.from_backend`` of it is the
        noise model of that calibration."""

        def __init__(self, calibration: dict[str, Any]):
            super().__init__(name=str(calibration.get("backend") or "calibrated"))
            self._target = target_of(calibration)

        @property
        def target(self):
            return self._target

        @property
        def max_circuits(self):
            return None

        @classmethod
        def _default_options(cls):
            return Options()

        def run(self, run_input, **options):
            raise NotImplementedError("a calibration record runs nothing; simulate it with its noise model")

    return _Calibrated


def backend_from_calibration(calibration: dict[str, Any]) -> Any:
    """A BackendV2 whose target is ``calibration`` (a :func:`calibration_of` record), for
    ``NoiseModel.from_backend`` and transpiling: a device's noisy twin from its calibration."""
    return _calibrated_backend_class()(calibration)


def target_of(calibration: dict[str, Any]) -> Any:
    """The ``qiskit.transpiler.Target`` a :func:`calibration_of` record describes."""
    from qiskit.circuit.library import get_standard_gate_name_mapping
    from qiskit.circuit.measure import Measure
    from qiskit.providers import QubitProperties
    from qiskit.transpiler import InstructionProperties, Target

    qubits = calibration["qubits"]
    target = Target(
        num_qubits=calibration["num_qubits"],
        qubit_properties=[
            QubitProperties(t1=q.get("t1"), t2=q.get("t2"), frequency=q.get("frequency")) for q in qubits
        ],
    )
    gates = get_standard_gate_name_mapping()
    multi: dict[str, dict[tuple[int, ...], Any]] = {}
    for gate in calibration["gates"]:
        multi.setdefault(gate["gate"], {})[tuple(gate["qubits"])] = InstructionProperties(
            error=gate.get("error"), duration=gate.get("duration")
        )
    for name in calibration["basis_gates"]:
        if name not in gates:
            continue
        if name in multi:
            target.add_instruction(gates[name], multi[name])
            continue
        if gates[name].num_qubits != 1:
            continue
        like = name if name in _ONE_QUBIT_GATES else "sx"  # id takes sx's numbers; rz is virtual
        properties = {}
        for q in qubits:
            if name == "rz":
                properties[(q["qubit"],)] = InstructionProperties(error=0.0, duration=0.0)
            else:
                properties[(q["qubit"],)] = InstructionProperties(
                    error=q.get(f"{like}_error"), duration=q.get(f"{like}_duration")
                )
        target.add_instruction(gates[name], properties)
    target.add_instruction(
        Measure(),
        {
            (q["qubit"],): InstructionProperties(error=q.get("readout_error"), duration=q.get("readout_length"))
            for q in qubits
        },
    )
    return target
