"""PUB sweeps: N-dimensional ``parameter_values`` and observable arrays, checked with Qiskit's
own broadcasting (``BindingsArray``, ``ObservablesArray``) before anything is stored or run."""

from __future__ import annotations

from typing import Any

import numpy as np
from qiskit import QuantumCircuit
from qiskit.primitives.containers.bindings_array import BindingsArray
from qiskit.primitives.containers.observables_array import ObservablesArray

from executors.base import InvalidRequest


def bindings(circuit: QuantumCircuit, values: Any, index: int = 0) -> BindingsArray:
    """``values`` (shape ``(..., num_parameters)``) as a BindingsArray; flat lists stay valid."""
    given = np.asarray(values if values is not None else [], dtype=float)
    last = given.shape[-1] if given.ndim else 1
    if circuit.num_parameters and last != circuit.num_parameters:
        raise InvalidRequest(
            f"circuit {index} has {circuit.num_parameters} parameters but parameter_values has "
            f"shape {given.shape} (its last axis must be {circuit.num_parameters})",
            index=index,
        )
    try:
        array = BindingsArray.coerce(
            {tuple(circuit.parameters): np.asarray(values, dtype=float)} if values is not None else None
        )
        array.validate()
    except (TypeError, ValueError) as exc:
        raise InvalidRequest(f"circuit {index}: parameter_values: {exc}", index=index) from exc
    if array.num_parameters != circuit.num_parameters:
        raise InvalidRequest(
            f"circuit {index} has {circuit.num_parameters} parameters but parameter_values "
            f"binds {array.num_parameters}",
            index=index,
        )
    if not np.all(np.isfinite(np.concatenate([v.ravel() for v in array.data.values()] or [np.zeros(0)]))):
        raise InvalidRequest(f"circuit {index}: parameter_values holds a value that is not finite", index=index)
    return array


def pub_shape(circuit: QuantumCircuit, values: Any, observables: Any = None, index: int = 0) -> tuple[int, ...]:
    """The broadcast shape of one PUB: the bindings' shape, broadcast with the observables' if given."""
    array = bindings(circuit, values, index)
    if observables is None:
        return array.shape
    try:
        obs = ObservablesArray.coerce(observables)
    except (TypeError, ValueError) as exc:
        raise InvalidRequest(f"circuit {index}: observables: {exc}", index=index) from exc
    try:
        return tuple(np.broadcast_shapes(obs.shape, array.shape))
    except ValueError as exc:
        raise InvalidRequest(
            f"circuit {index}: observables of shape {obs.shape} do not broadcast with "
            f"parameter_values of shape {array.shape}",
            index=index,
        ) from exc
