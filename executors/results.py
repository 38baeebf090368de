"""Primitive results (Qiskit ``PrimitiveResult``/``PubResult``) into :class:`CircuitResult`.

Shared by the local, fake-backend and IBM cloud executors so every backend reports the same shape.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
from qiskit.primitives import BitArray

from executors.base import CircuitResult, memory_width
from executors.mitigation import zne_outputs

_MAX_METADATA_DEPTH = 6


def jsonable(value: Any, depth: int = 0) -> Any:
    """``value`` made of plain JSON types (numpy scalars and arrays converted, the rest as text)."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        number = float(value)
        return number if math.isfinite(number) else str(number)
    if depth >= _MAX_METADATA_DEPTH:
        return str(value)
    if isinstance(value, np.ndarray):
        return jsonable(value.tolist(), depth + 1)
    if isinstance(value, Mapping):
        return {str(key): jsonable(item, depth + 1) for key, item in value.items()}
    if isinstance(value, (list, tuple, set)):
        return [jsonable(item, depth + 1) for item in value]
    return str(value)


def count_bits(bits: BitArray) -> dict[str, int]:
    """``bits.get_counts()``, vectorised: ``get_counts`` formats a string per shot in Python.

    Each shot's packed bytes become one integer; only distinct outcomes are formatted.
    """
    packed = bits.array.reshape(-1, bits.array.shape[-1])
    if packed.shape[1] > 8:  # wider than 64 bits: no integer type holds a shot
        return bits.get_counts()
    values = np.zeros(packed.shape[0], dtype=np.uint64)
    for column in range(packed.shape[1]):
        values = (values << np.uint64(8)) | packed[:, column].astype(np.uint64)
    outcomes, counts = np.unique(values, return_counts=True)
    return {format(int(v), f"0{bits.num_bits}b"): int(n) for v, n in zip(outcomes, counts, strict=True)}


def convert_sampler_pub(
    pub_result: Any, index: int, metadata: Mapping[str, Any] | None = None, *, memory: bool = False
) -> CircuitResult:
    """One sampler ``SamplerPubResult`` (a single parameter binding) as a :class:`CircuitResult`;
    with ``memory``, each shot's outcome too (the registers joined as ``counts`` joins them)."""
    registers = {name: bits for name, bits in pub_result.data.items() if isinstance(bits, BitArray)}
    register_counts = {name: count_bits(bits) for name, bits in registers.items()}
    joined = None
    if len(registers) == 1:  # joining one register changes nothing: count it once
        counts = dict(next(iter(register_counts.values())))
        joined = next(iter(registers.values()))
    elif registers:
        joined = pub_result.join_data(list(registers))
        counts = count_bits(joined)
    else:
        counts = {}
    shots = next(iter(registers.values())).num_shots if registers else 0
    shape = tuple(joined.shape) if joined is not None else ()
    total = shots * math.prod(shape)
    probabilities = {key: value / total for key, value in counts.items()} if total else {}
    result = CircuitResult(
        index=index,
        shots=shots,
        counts=counts,
        register_counts=register_counts,
        probabilities=probabilities,
        metadata={**jsonable(dict(pub_result.metadata)), **jsonable(dict(metadata or {}))},
    )
    if shape:  # a sweep: the counts above are over every binding; each binding's too
        result.shape = shape
        result.binding_counts = [count_bits(joined[position]) for position in np.ndindex(shape)]
    if memory and joined is not None:
        result.memory, result.memory_bits = memory_of(joined)
    return result


def memory_of(bits: BitArray) -> tuple[bytes, int]:
    """``CircuitResult.memory`` and ``memory_bits`` of ``bits`` (a sweep's bindings one after
    another, in C order)."""
    packed = np.ascontiguousarray(bits.array, dtype=np.uint8).reshape(-1, bits.array.shape[-1])
    return packed.tobytes(), bits.num_bits


def pack_shots(values: np.ndarray, num_bits: int) -> bytes:
    """Each shot's outcome, given as an unsigned integer (clbit 0 the lowest bit, at most 64
    bits), as ``CircuitResult.memory``: one big-endian row of ``ceil(num_bits / 8)`` bytes a shot."""
    width = memory_width(num_bits)
    rows = np.asarray(values, dtype=np.uint64).astype(">u8").view(np.uint8).reshape(-1, 8)
    return np.ascontiguousarray(rows[:, 8 - width :]).tobytes()


def convert_estimator_pub(
    pub_result: Any,
    index: int,
    shots: int | None = None,
    metadata: Mapping[str, Any] | None = None,
    *,
    shaped: bool = False,
) -> CircuitResult:
    """One estimator ``PubResult`` as a :class:`CircuitResult` (``evs``/``stds`` flattened; a PUB
    whose shape is not that of a flat observables list keeps it in ``shape``)."""
    raw = np.asarray(pub_result.data.evs, dtype=float)
    evs = np.atleast_1d(raw).ravel()
    stds = np.broadcast_to(np.asarray(pub_result.data.stds, dtype=float), raw.shape).ravel()
    if not raw.shape:
        stds = np.atleast_1d(stds)
    result = CircuitResult(
        shape=tuple(raw.shape) if shaped else None,
        index=index,
        shots=shots,
        evs=[float(value) for value in evs],
        stds=[float(value) for value in stds],
        metadata={**jsonable(dict(pub_result.metadata)), **jsonable(dict(metadata or {}))},
    )
    zne = zne_outputs(pub_result)
    if zne is not None:
        result.metadata["zne"] = zne
    return result


def convert_sampler_result(
    primitive_result: Iterable[Any],
    indices: Sequence[int],
    metadata: Mapping[str, Any] | None = None,
    *,
    memory: bool = False,
) -> list[CircuitResult]:
    """A sampler ``PrimitiveResult`` whose PUBs are the circuits ``indices`` of the request
    (``memory``: the request's, keep each shot's outcome)."""
    return [
        convert_sampler_pub(pub, index, metadata, memory=memory)
        for pub, index in zip(primitive_result, indices, strict=True)
    ]


def convert_estimator_result(
    primitive_result: Iterable[Any],
    indices: Sequence[int],
    shots: int | None = None,
    metadata: Mapping[str, Any] | None = None,
    shaped: Sequence[int] = (),
) -> list[CircuitResult]:
    """An estimator ``PrimitiveResult`` whose PUBs are the circuits ``indices`` of the request;
    those in ``shaped`` (PUBs of the sweep form) keep their shape."""
    return [
        convert_estimator_pub(pub, index, shots, metadata, shaped=index in shaped)
        for pub, index in zip(primitive_result, indices, strict=True)
    ]
