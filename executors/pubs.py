"""Primitive unified blocs (PUBs) from a validated :class:`ExecutionRequest`."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from qiskit import QuantumCircuit

from executors import sweeps
from executors.base import ExecutionRequest
from executors.circuits import parameter_values, to_observables


def estimator_circuit(circuit: QuantumCircuit) -> QuantumCircuit:
    """``circuit`` without its final measurements: an estimator measures the observables itself."""
    return circuit.remove_final_measurements(inplace=False)


def build_pubs(
    request: ExecutionRequest,
    circuits: Sequence[QuantumCircuit],
    indices: Sequence[int] | None = None,
    *,
    values_bound: bool = False,
) -> list[tuple[Any, ...]]:
    """PUBs for the request's circuits ``indices`` (all by default).

    ``circuits`` are the circuits to run, one per request circuit (possibly transpiled to a
    backend's ISA); an estimator observable is mapped through ``circuit.layout`` when the circuit
    has one, so it acts on the physical qubits the transpiler chose.  ``values_bound`` says the
    parameter values are already assigned in ``circuits`` (see :func:`bind_parameters`; a sweep's
    are not).  A sweep, an observables array or per-PUB shots/precision make a Qiskit PUB object.
    """
    indices = range(len(request.circuits)) if indices is None else indices
    pubs: list[tuple[Any, ...]] = []
    for index in indices:
        original = request.circuits[index]
        circuit = circuits[index]
        if sweeps.needs_pub_check(request, index):
            pubs.append(_pub(request, index, circuit, bound=values_bound and not is_swept(request, index)))
            continue
        raw_values = request.parameter_values[index] if request.parameter_values else None
        values = parameter_values(original, raw_values, index)
        if values_bound:
            values = None
        if request.primitive == "sampler":
            pubs.append((circuit,) if values is None else (circuit, values))
            continue
        observables = to_observables(request.observables[index], original.num_qubits, index)
        if circuit.layout is not None:
            observables = [observable.apply_layout(circuit.layout) for observable in observables]
        pubs.append((circuit, observables) if values is None else (circuit, observables, values))
    return pubs


def _pub(request: ExecutionRequest, index: int, circuit: QuantumCircuit, *, bound: bool) -> Any:
    """Circuit ``index`` as one SamplerPub/EstimatorPub (a sweep stays one PUB), with its own
    shots or precision when the request gives them."""
    values = request.parameter_values[index] if request.parameter_values else None
    if request.primitive == "sampler":
        shots = request.pub_shots[index] if request.pub_shots else None
        return sweeps.sampler_pub(circuit, values, shots, index, bound=bound)
    precision = request.precisions[index] if request.precisions else None
    original = request.circuits[index]
    observables = request.observables[index]
    return sweeps.estimator_pub(
        circuit, observables, values, precision, index, num_qubits=original.num_qubits, bound=bound
    )


def is_swept(request: ExecutionRequest, index: int) -> bool:
    """Circuit ``index`` binds an array of parameter values (its PUB has a shape)."""
    values = request.parameter_values[index] if request.parameter_values else None
    return sweeps.is_swept(request.circuits[index], values)


def pub_form(request: ExecutionRequest, indices: Sequence[int] | None = None) -> list[int]:
    """Those of the circuits ``indices`` (all by default) that run as PUBs of the sweep form: a
    sweep, an observables array, or their own shots or precision; their results keep a shape."""
    indices = range(len(request.circuits)) if indices is None else indices
    return [index for index in indices if sweeps.needs_pub_check(request, index)]


def estimator_precision(shots: int) -> float:
    """The estimator precision that matches ``shots`` measurements: 1/sqrt(shots)."""
    return 1.0 / math.sqrt(shots)


def bind_parameters(request: ExecutionRequest, index: int, circuit: QuantumCircuit) -> QuantumCircuit:
    """``circuit`` with the request's parameter values for circuit ``index`` assigned."""
    raw_values = request.parameter_values[index] if request.parameter_values else None
    if is_swept(request, index):
        return circuit  # bound by the primitive, binding by binding
    if isinstance(raw_values, Mapping):
        array = sweeps.values_array(request.circuits[index], raw_values, index)
        return circuit if array is None else circuit.assign_parameters(array.tolist())
    values = parameter_values(request.circuits[index], raw_values, index)
    return circuit if values is None else circuit.assign_parameters(values)
