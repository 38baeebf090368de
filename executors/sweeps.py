"""PUB sweeps: N-dimensional ``parameter_values``, observable arrays and per-PUB ``shots`` /
``precision``, checked with Qiskit's own containers (``BindingsArray``, ``ObservablesArray``,
``SamplerPub``, ``EstimatorPub``) before anything is stored or run.

Forms of one circuit's ``parameter_values``:

* ``None``: the circuit has no parameters;
* an array (nested lists) of shape ``(..., num_parameters)``, the last axis in
  ``circuit.parameters`` order; a flat list is one binding (shape ``()``);
* a dict ``{parameter name: array}``: the arrays broadcast together (Qiskit's rules), each
  value one parameter's.

One circuit's observables (per circuit: :func:`observables_array`) form an array whose leaves
are observables: a Pauli label (``"ZZ"``), a ``{label: coeff}`` dict (summed), a
``[label, coeff]`` pair, or a Qiskit ``Pauli``/``SparsePauliOp``.  Requests and stored rows keep
that form as ``{"array": <nested>}`` (:func:`pub_observables`); any other entry is the
job-level list the API had before sweeps (one list per circuit, whose items may also be lists of
pairs), read the same way once :func:`legacy_observables` has turned it into the array form.

:func:`merge_circuit_fields` merges a submission's circuit entries with its job-level lists;
:func:`needs_pub_check` says which circuits are PUBs of the sweep form, checked by
:func:`check_request_pub` and built by :func:`sampler_pub` / :func:`estimator_pub`.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from qiskit import QuantumCircuit
from qiskit.primitives.containers.bindings_array import BindingsArray
from qiskit.primitives.containers.estimator_pub import EstimatorPub
from qiskit.primitives.containers.observables_array import ObservablesArray
from qiskit.primitives.containers.sampler_pub import SamplerPub
from qiskit.quantum_info import Pauli, SparsePauliOp

from executors.base import MAX_SHOTS, InvalidRequest
from executors.observables import observable_operator

ARRAY_KEY = "array"  # a stored observables entry {"array": ...} is in the per-circuit array form
MAX_BINDINGS = 10_000  # parameter bindings (or observables) in one PUB
MAX_PUB_SHOTS = 2_000_000  # bindings x shots of one sampler PUB
MAX_JOB_VALUES = 100_000  # bindings (or values) of all a job's PUBs together


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" + ("" if count == 1 else "s")


def values_array(circuit: QuantumCircuit, values: Any, index: int = 0) -> np.ndarray | None:
    """``values`` as a float array of shape ``(..., num_parameters)``, or None for no values."""
    names = [parameter.name for parameter in circuit.parameters]
    if values is None:
        if names:
            raise InvalidRequest(
                f"circuit {index} has {_plural(len(names), 'parameter')} ({', '.join(names[:5])}) "
                "but no parameter_values were given",
                index=index,
            )
        return None
    if isinstance(values, Mapping):
        unknown = sorted(set(map(str, values)) - set(names))
        missing = [name for name in names if name not in values]
        if unknown or missing:
            problem = f"unknown parameter {unknown[0]!r}" if unknown else f"no values for parameter {missing[0]!r}"
            raise InvalidRequest(
                f"circuit {index}: parameter_values: {problem}; the circuit's parameters are {names}", index=index
            )
        columns = [_floats(values[name], index) for name in names]
        try:
            columns = np.broadcast_arrays(*columns)
        except ValueError:
            shapes = ", ".join(f"{name} {column.shape}" for name, column in zip(names, columns, strict=True))
            raise InvalidRequest(
                f"circuit {index}: parameter_values of shapes {shapes} do not broadcast together", index=index
            ) from None
        array = np.stack(columns, axis=-1) if columns else np.zeros(0)
    else:
        array = _floats(values, index)
        if array.ndim == 0:
            array = array.reshape(1)
    last = array.shape[-1]
    if last != len(names) and not (array.size == 0 and not names):
        raise InvalidRequest(
            f"circuit {index}: parameter_values has shape {array.shape} but the circuit has "
            f"{_plural(len(names), 'parameter')} (the last axis must be {len(names)})",
            index=index,
        )
    if not names:
        return None
    if not np.all(np.isfinite(array)):
        raise InvalidRequest(f"circuit {index}: parameter_values holds a value that is not finite", index=index)
    bindings_count = math.prod(array.shape[:-1])
    if bindings_count > MAX_BINDINGS:
        raise InvalidRequest(
            f"circuit {index}: parameter_values holds {bindings_count} bindings; the limit is {MAX_BINDINGS}",
            index=index,
        )
    return array


def _floats(values: Any, index: int) -> np.ndarray:
    try:
        array = np.asarray(values, dtype=float)
    except (TypeError, ValueError):
        raise InvalidRequest(
            f"circuit {index}: parameter_values must be numbers in nested lists of equal lengths", index=index
        ) from None
    if any(isinstance(value, bool) for value in _leaves(values)):
        raise InvalidRequest(f"circuit {index}: parameter_values holds true/false, not a number", index=index)
    return array


def _leaves(values: Any):
    if isinstance(values, (list, tuple)):
        for item in values:
            yield from _leaves(item)
    else:
        yield values


def bindings(circuit: QuantumCircuit, values: Any, index: int = 0) -> BindingsArray:
    """``values`` (any form of the module docstring) as a BindingsArray; flat lists stay valid."""
    array = values_array(circuit, values, index)
    try:
        bound = BindingsArray.coerce(None if array is None else {tuple(circuit.parameters): array})
        bound.validate()
    except (TypeError, ValueError) as exc:
        raise InvalidRequest(f"circuit {index}: parameter_values: {exc}", index=index) from exc
    return bound


def is_swept(circuit: QuantumCircuit, values: Any) -> bool:
    """True when ``values`` bind the circuit more than once (or as an array of one binding): the
    PUB then has a shape, and its parameters cannot simply be assigned."""
    if values is None or not circuit.num_parameters:
        return False
    if isinstance(values, Mapping):
        return any(_nested(value) for value in values.values())
    return isinstance(values, (list, tuple, np.ndarray)) and any(_nested(value) for value in values)


def _nested(value: Any) -> bool:
    return isinstance(value, (list, tuple)) or (isinstance(value, np.ndarray) and value.ndim > 0)


def _operator(item: Any, index: int) -> SparsePauliOp:
    return observable_operator(item, index)


def _is_pair(item: Any) -> bool:
    return (
        isinstance(item, Sequence)
        and not isinstance(item, str)
        and len(item) == 2
        and isinstance(item[0], str)
        and isinstance(item[1], numbers.Number)
        and not isinstance(item[1], bool)
    )


def _is_leaf(item: Any) -> bool:
    return isinstance(item, (str, Mapping, Pauli, SparsePauliOp)) or _is_pair(item)


def observables_array(entry: Any, num_qubits: int, index: int = 0, layout: Any = None) -> ObservablesArray:
    """One circuit's observables (module docstring) as an ObservablesArray of their shape; each
    observable checked (Pauli letters, Hermitian, the circuit's width) and, with ``layout`` (a
    transpiled circuit's), mapped onto the physical qubits."""
    operators: list[SparsePauliOp] = []

    def build(item: Any, depth: int) -> Any:
        if _is_leaf(item):
            operator = _operator(item, index)
            if operator.num_qubits != num_qubits:
                labels = operator.paulis.to_labels()
                raise InvalidRequest(
                    f"circuit {index}: observable {labels[0]} acts on {operator.num_qubits} qubits "
                    f"but the circuit has {num_qubits}",
                    index=index,
                )
            operators.append(operator)
            if len(operators) > MAX_BINDINGS:
                raise InvalidRequest(f"circuit {index}: more than {MAX_BINDINGS} observables", index=index)
            return len(operators) - 1
        if isinstance(item, Sequence) and not isinstance(item, str) and depth < 32:
            if not item:
                raise InvalidRequest(f"circuit {index}: observables holds an empty list", index=index)
            return [build(part, depth + 1) for part in item]
        raise InvalidRequest(
            f"circuit {index}: cannot read observable {item!r}; use a Pauli label like 'ZZ', "
            "a {label: coefficient} object or a [label, coefficient] pair",
            index=index,
        )

    positions = build(entry, 0)
    try:
        slots = np.asarray(positions, dtype=int)
    except ValueError:
        raise InvalidRequest(
            f"circuit {index}: observables must be nested lists of equal lengths (an array)", index=index
        ) from None
    if layout is not None:
        operators = [operator.apply_layout(layout) for operator in operators]
    objects = np.empty(slots.shape, dtype=object)
    for position, slot in np.ndenumerate(slots):
        objects[position] = operators[slot]
    try:
        return ObservablesArray.coerce(objects if slots.shape else operators[int(slots)])
    except (TypeError, ValueError) as exc:
        raise InvalidRequest(f"circuit {index}: observables: {exc}", index=index) from exc


def pub_observables(entry: Any, num_qubits: int, index: int = 0, layout: Any = None) -> ObservablesArray:
    """One circuit's stored observables entry as an ObservablesArray: ``{"array": ...}`` holds
    the per-circuit array form, anything else is a job-level entry (:func:`legacy_observables`)."""
    if isinstance(entry, Mapping) and set(entry) == {ARRAY_KEY}:
        return observables_array(entry[ARRAY_KEY], num_qubits, index, layout)
    return observables_array(legacy_observables(entry), num_qubits, index, layout)


def legacy_observables(entry: Any) -> Any:
    """A job-level observables entry (a list of observables, each possibly a list of pairs; or one
    bare observable) in the per-circuit array form: a 1-D list whose items are leaves."""
    if entry is None:
        return None
    if _is_leaf(entry) and not _is_pair(entry):
        return [entry]
    if not isinstance(entry, Sequence) or isinstance(entry, str):
        return entry  # observables_array explains what is wrong with it
    items = []
    for item in entry:
        if isinstance(item, Sequence) and not isinstance(item, str) and item and all(_is_pair(t) for t in item):
            summed: dict[str, float] = {}
            for label, coeff in item:
                summed[str(label).upper()] = summed.get(str(label).upper(), 0.0) + float(coeff)
            items.append(summed)
        else:
            items.append(item)
    return items


def pub_shape(circuit: QuantumCircuit, values: Any, observables: Any = None, index: int = 0) -> tuple[int, ...]:
    """The broadcast shape of one PUB: the bindings' shape, broadcast with the observables' if given."""
    array = bindings(circuit, values, index)
    if observables is None:
        return array.shape
    obs = pub_observables(observables, circuit.num_qubits, index)
    return _broadcast(obs.shape, array.shape, index)


def _broadcast(obs_shape: tuple, values_shape: tuple, index: int) -> tuple[int, ...]:
    try:
        return tuple(np.broadcast_shapes(obs_shape, values_shape))
    except ValueError:
        raise InvalidRequest(
            f"circuit {index}: observables of shape {obs_shape} do not broadcast with "
            f"parameter_values of shape {values_shape}",
            index=index,
        ) from None


def check_shots(shots: Any, index: int) -> int | None:
    if shots is None:
        return None
    if isinstance(shots, bool) or not isinstance(shots, int) or not 1 <= shots <= MAX_SHOTS:
        raise InvalidRequest(f"circuit {index}: shots must be an integer between 1 and {MAX_SHOTS}", index=index)
    return shots


def check_precision(precision: Any, index: int) -> float | None:
    if precision is None:
        return None
    if (
        isinstance(precision, bool)
        or not isinstance(precision, numbers.Real)
        or not math.isfinite(precision)
        or not 1e-4 <= precision <= 1
    ):
        raise InvalidRequest(f"circuit {index}: precision must be a number between 0.0001 and 1", index=index)
    return float(precision)


def sampler_pub(
    circuit: QuantumCircuit, values: Any, shots: int | None = None, index: int = 0, *, bound: bool = False
) -> SamplerPub:
    """The circuit's SamplerPub (``bound``: its values are assigned already, none are sent)."""
    array = BindingsArray() if bound else bindings(circuit, values, index)
    try:
        pub = SamplerPub.coerce((circuit, array, shots))
    except (TypeError, ValueError) as exc:
        raise InvalidRequest(f"circuit {index}: {exc}", index=index) from exc
    _check_size(pub.shape, shots, index)
    return pub


def estimator_pub(
    circuit: QuantumCircuit,
    observables: Any,
    values: Any,
    precision: float | None = None,
    index: int = 0,
    *,
    num_qubits: int | None = None,
    bound: bool = False,
) -> EstimatorPub:
    """The circuit's EstimatorPub; observables of ``num_qubits`` (the original circuit's) mapped
    through ``circuit.layout`` when it has one."""
    array = BindingsArray() if bound else bindings(circuit, values, index)
    obs = pub_observables(observables, num_qubits or circuit.num_qubits, index, circuit.layout)
    _broadcast(obs.shape, array.shape, index)
    try:
        pub = EstimatorPub.coerce((circuit, obs, array, precision))
    except (TypeError, ValueError) as exc:
        raise InvalidRequest(f"circuit {index}: {exc}", index=index) from exc
    _check_size(pub.shape, None, index)
    return pub


def _check_size(shape: tuple, shots: int | None, index: int) -> None:
    size = math.prod(shape)
    if size > MAX_BINDINGS:
        raise InvalidRequest(f"circuit {index}: the PUB has shape {shape}, over {MAX_BINDINGS} values", index=index)
    if shots is not None and size * shots > MAX_PUB_SHOTS:
        raise InvalidRequest(
            f"circuit {index}: {size} bindings x {shots} shots is over the {MAX_PUB_SHOTS} shots one PUB may take",
            index=index,
        )


def _entry(values: list | None, index: int) -> Any:
    return values[index] if values is not None else None


def is_array_entry(entry: Any) -> bool:
    """True for a stored observables entry in the per-circuit array form (``{"array": ...}``)."""
    return isinstance(entry, Mapping) and set(entry) == {ARRAY_KEY}


def needs_pub_check(request: Any, index: int) -> bool:
    """True when circuit ``index`` of ``request`` (an ExecutionRequest) is more than one flat
    binding with a job-level observables list: a sweep, an observables array, per-PUB shots or
    precision.  Such a circuit is checked (and run) as a PUB."""
    circuit = request.circuits[index]
    return (
        is_swept(circuit, _entry(request.parameter_values, index))
        or isinstance(_entry(request.parameter_values, index), Mapping)
        or _entry(request.pub_shots, index) is not None
        or _entry(request.precisions, index) is not None
        or (request.primitive == "estimator" and is_array_entry(_entry(request.observables, index)))
    )


def check_request_pub(request: Any, index: int) -> tuple[int, ...]:
    """Check circuit ``index`` of ``request`` as Qiskit checks a PUB; its shape."""
    circuit = request.circuits[index]
    values = _entry(request.parameter_values, index)
    shots = check_shots(_entry(request.pub_shots, index), index)
    precision = check_precision(_entry(request.precisions, index), index)
    if request.primitive == "sampler":
        if precision is not None:
            raise InvalidRequest(
                f"circuit {index}: precision is the estimator's; a sampler PUB takes shots", index=index
            )
        pub = sampler_pub(circuit, values, shots or request.shots, index)
    else:
        if shots is not None:
            raise InvalidRequest(
                f"circuit {index}: an estimator PUB takes precision, not shots (the job's shots set the default)",
                index=index,
            )
        observables = _entry(request.observables, index)
        if observables is None:
            raise InvalidRequest(f"circuit {index}: an estimator PUB needs observables", index=index)
        pub = estimator_pub(circuit.remove_final_measurements(inplace=False), observables, values, precision, index)
    return pub.shape


PUB_FIELDS = ("parameter_values", "observables", "shots", "precision")


def merge_circuit_fields(
    circuits: list[Any], parameter_values: list | None, observables: list | None, primitive: str
) -> tuple[list | None, list | None, list | None, list | None]:
    """A submission's per-circuit PUB fields (each circuit entry's ``parameter_values``,
    ``observables``, ``shots``, ``precision``) merged with the job-level lists: (parameter values,
    observables, PUB shots, precisions), one entry per circuit, or None when no circuit has any.
    A circuit's observables become ``{"array": ...}`` (the array form); a field given both in
    the circuit and at job level is refused."""
    count = len(circuits)
    merged: dict[str, list] = {
        "parameter_values": list(parameter_values) if parameter_values is not None else [None] * count,
        "observables": list(observables) if observables is not None else [None] * count,
        "shots": [None] * count,
        "precision": [None] * count,
    }
    for index, entry in enumerate(circuits):
        if not isinstance(entry, Mapping):
            continue
        for name in PUB_FIELDS:
            value = entry.get(name)
            if value is None:
                continue
            if name in ("parameter_values", "observables") and merged[name][index] is not None:
                raise InvalidRequest(
                    f"circuit {index}: {name} is given both in the circuit and at job level; give it once",
                    index=index,
                )
            if name == "observables":
                if primitive != "estimator":
                    raise InvalidRequest(
                        f"circuit {index}: observables are for the estimator; this job is a sampler job", index=index
                    )
                value = {ARRAY_KEY: value}
            if name == "shots":
                check_shots(value, index)
                if primitive != "sampler":
                    raise InvalidRequest(f"circuit {index}: an estimator PUB takes precision, not shots", index=index)
            if name == "precision":
                check_precision(value, index)
                if primitive != "estimator":
                    raise InvalidRequest(
                        f"circuit {index}: precision is the estimator's; a sampler PUB takes shots", index=index
                    )
            merged[name][index] = value

    def given(values: list) -> list | None:
        return values if any(value is not None for value in values) else None

    return (
        given(merged["parameter_values"]),
        given(merged["observables"]) if primitive == "estimator" else observables,
        given(merged["shots"]),
        given(merged["precision"]),
    )


def observable_labels(entry: Any, count: int, shape: Sequence[int] | None = None) -> list[Any]:
    """One stored observables entry's observable per expectation value (``count`` of them, in
    C order of ``shape``): the array form's leaves broadcast to the PUB's shape; a job-level
    list as it is.  For labelling results; nothing is checked."""
    if not is_array_entry(entry):
        return entry if isinstance(entry, list) else [entry]
    leaves: list[Any] = []

    def slots(item: Any) -> Any:
        if _is_leaf(item) or not isinstance(item, Sequence) or isinstance(item, str):
            leaves.append(item)
            return len(leaves) - 1
        return [slots(part) for part in item]

    try:
        positions = np.asarray(slots(entry[ARRAY_KEY]), dtype=int)
        if shape is not None:
            positions = np.broadcast_to(positions, tuple(shape))
    except ValueError:
        return leaves
    flat = [leaves[int(i)] for i in positions.ravel()]
    return flat if len(flat) == count else leaves
