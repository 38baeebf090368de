"""How a circuit's results are stored: the distribution once, packed; the rest derived on reading.

A sampler circuit's counts are kept as one compressed blob (``pack_counts``): the outcomes as
sorted integers, stored as the gaps between them, and their counts, each in the narrowest unsigned
type, zlib-compressed.  A 16-qubit circuit with 25,000 distinct outcomes takes about 25 kB instead
of the 575 kB of its JSON, and its probabilities and register counts, which repeat the same
distribution, are not stored at all: ``probabilities`` is counts / shots and ``register_counts``
slices each register's bits out of the joined bitstrings (Qiskit's order: first register rightmost).
Only what cannot be derived is stored as given: exact probabilities of a job without counts, and
register counts that do not follow from the joined counts.  Keys that are not bitstrings of one
width are packed as compressed JSON, so packing never loses anything.

The circuit browser and the job's summaries read the small columns written beside the blob
(shots, distinct outcomes, top outcome) and never unpack it.

A job that asked for memory also keeps every shot's outcome (``pack_memory``): the shots' bits
laid end to end, ``num_bits`` per shot with no padding (shot 0 first, each shot's highest clbit
first), zlib-compressed, behind a 10-byte header (magic, num_bits, shots).  Packed that densely a
2-qubit Bell circuit's 10,000 shots take about 1.4 kB, near the 1.25 kB their randomness needs,
against 10 kB for Qiskit's ``BitArray`` layout (a byte per shot).  ``unpack_memory`` gives back
that layout: a uint8 array of shape (shots, ceil(num_bits / 8)), big-endian, as
``qiskit.primitives.BitArray(array, num_bits)`` takes it.
"""

from __future__ import annotations

import json
import struct
import zlib
from typing import Any

import numpy as np

from executors.base import CircuitResult, bitstrings, memory_width

_BITS = b"Q1"  # bitstrings of one width <= 64: gaps and counts as integer arrays, compressed
_BITS_RAW = b"Q0"  # the same uncompressed, when compressing would not make it smaller (few outcomes)
_JSON = b"QJ"  # anything else: compressed JSON of the dict
_HEADER = struct.Struct("<2sHIBB")  # magic, bits, outcomes, gap width, count width
_WIDTHS = {1: np.uint8, 2: np.uint16, 4: np.uint32, 8: np.uint64}
_LEVEL = 1  # level 6 is a quarter smaller again and five times slower: the worker writes on every chunk
_SHOTS = b"M1"  # each shot's outcome: the bits end to end, compressed
_SHOTS_RAW = b"M0"  # the same uncompressed, when compressing would not make it smaller (random outcomes)
_SHOTS_HEADER = struct.Struct("<2sII")  # magic, bits per shot, shots
# Densely packed shots are small; level 6 makes them about a third smaller than level 1 and costs
# under 10 ms for 100,000 shots of 16 bits.
_SHOTS_LEVEL = 6
EVENT_VALUES = 16  # a swept PUB's "circuit" event carries its first expectation values only


def _narrowest(largest: int) -> int:
    return next(width for width in (1, 2, 4, 8) if largest < 1 << (8 * width))


def pack_counts(counts: dict[str, int]) -> bytes:
    """``counts`` as one compressed blob that ``unpack_counts`` turns back into the same dict."""
    widths = {len(key) for key in counts}
    if counts and len(widths) == 1 and 0 < (bits := widths.pop()) <= 64 and all(set(k) <= {"0", "1"} for k in counts):
        values = np.fromiter((int(key, 2) for key in counts), dtype=np.uint64, count=len(counts))
        order = np.argsort(values, kind="stable")
        values = values[order]
        tallies = np.fromiter(counts.values(), dtype=np.uint64, count=len(counts))[order]
        gaps = np.diff(values, prepend=np.uint64(0))
        gap_width, count_width = _narrowest(int(gaps.max())), _narrowest(int(tallies.max()))
        payload = gaps.astype(_WIDTHS[gap_width]).tobytes() + tallies.astype(_WIDTHS[count_width]).tobytes()
        packed = zlib.compress(payload, _LEVEL)
        magic, payload = (_BITS, packed) if len(packed) < len(payload) else (_BITS_RAW, payload)
        return _HEADER.pack(magic, bits, len(counts), gap_width, count_width) + payload
    return _JSON + zlib.compress(json.dumps(counts, separators=(",", ":")).encode(), _LEVEL)


def unpack_counts(blob: bytes | memoryview | None) -> dict[str, int] | None:
    if blob is None:
        return None
    blob = bytes(blob)
    if blob[:2] == _JSON:
        return json.loads(zlib.decompress(blob[2:]))
    bits, values, tallies = _integers(blob)
    width = f"0{bits}b"
    return {format(value, width): int(n) for value, n in zip(values.tolist(), tallies.tolist(), strict=True)}


def unpack_arrays(blob: bytes | memoryview) -> tuple[np.ndarray, np.ndarray]:
    """(outcomes, counts) as arrays, without making a string per outcome: each outcome's bitstring
    as an unsigned integer (uint64), or the bitstrings themselves when they are not of that form."""
    blob = bytes(blob)
    if blob[:2] == _JSON:
        counts = json.loads(zlib.decompress(blob[2:]))
        return np.asarray(list(counts), dtype=str), np.asarray(list(counts.values()), dtype=np.int64)
    _, values, tallies = _integers(blob)
    return values, tallies.astype(np.int64)


def _integers(blob: bytes) -> tuple[int, np.ndarray, np.ndarray]:
    magic, bits, size, gap_width, count_width = _HEADER.unpack_from(blob)
    payload = blob[_HEADER.size :]
    if magic == _BITS:
        payload = zlib.decompress(payload)
    split = size * gap_width
    values = np.cumsum(np.frombuffer(payload[:split], dtype=_WIDTHS[gap_width]).astype(np.uint64), dtype=np.uint64)
    return bits, values, np.frombuffer(payload[split:], dtype=_WIDTHS[count_width])


def pack_memory(memory: bytes, num_bits: int, shots: int) -> bytes:
    """``CircuitResult.memory`` (``shots`` BitArray rows of ``num_bits`` bits) as one blob that
    ``unpack_memory`` turns back into the same rows."""
    width = memory_width(num_bits)
    rows = np.frombuffer(memory, dtype=np.uint8).reshape(shots, width)
    dense = np.packbits(np.unpackbits(rows, axis=1)[:, width * 8 - num_bits :]).tobytes()
    packed = zlib.compress(dense, _SHOTS_LEVEL)
    magic, payload = (_SHOTS, packed) if len(packed) < len(dense) else (_SHOTS_RAW, dense)
    return _SHOTS_HEADER.pack(magic, num_bits, shots) + payload


def unpack_memory(blob: bytes | memoryview | None) -> tuple[np.ndarray, int] | None:
    """(the shots as a BitArray-packed uint8 array of shape (shots, bytes per shot), num_bits),
    or None for no blob."""
    if blob is None:
        return None
    blob = bytes(blob)
    magic, num_bits, shots = _SHOTS_HEADER.unpack_from(blob)
    if magic not in (_SHOTS, _SHOTS_RAW):
        raise ValueError(f"not a stored memory blob (magic {magic!r})")
    payload = blob[_SHOTS_HEADER.size :]
    if magic == _SHOTS:
        payload = zlib.decompress(payload)
    width = memory_width(num_bits)
    bits = np.unpackbits(np.frombuffer(payload, dtype=np.uint8), count=shots * num_bits).reshape(shots, num_bits)
    padded = np.zeros((shots, width * 8), dtype=np.uint8)
    padded[:, width * 8 - num_bits :] = bits
    return np.packbits(padded, axis=1), num_bits


def memory_bitstrings(blob: bytes | memoryview | None) -> list[str] | None:
    """Each stored shot as a bitstring, in shot order (``BitArray.get_bitstrings()``); None for no blob."""
    unpacked = unpack_memory(blob)
    return None if unpacked is None else bitstrings(*unpacked)


def registers_of(result: CircuitResult) -> list[list] | None:
    """[[name, bits], ...] of the result's classical registers in join order, when their counts
    follow from the joined counts; None when they do not (they are then stored as given)."""
    if not result.register_counts or not result.counts:
        return None
    registers = []
    for name, counts in result.register_counts.items():
        widths = {len(key) for key in counts}
        if len(widths) != 1:
            return None
        registers.append([name, widths.pop()])
    if derive_register_counts(result.counts, registers) != result.register_counts:
        return None
    return registers


def derive_register_counts(counts: dict[str, int] | None, registers: list | None) -> dict | None:
    """Each register's counts, sliced out of the joined bitstrings (first register rightmost)."""
    if counts is None or not registers:
        return None
    if len(registers) == 1:
        return {registers[0][0]: dict(counts)}
    derived, end = {}, None
    for name, bits in registers:
        start = -bits if end is None else end - bits
        tally: dict[str, int] = {}
        for key, n in counts.items():
            part = key[start:end]
            tally[part] = tally.get(part, 0) + n
        derived[name] = tally
        end = start
    return derived


def derive_probabilities(counts: dict[str, int] | None, shots: int | None) -> dict[str, float] | None:
    if counts is None:
        return None
    total = shots or sum(counts.values())
    return {key: n / total for key, n in counts.items()} if total else {}


def summary(result: CircuitResult) -> dict[str, Any]:
    """What a circuit's "circuit" event says of its result: small whatever the distribution."""
    counts = result.counts
    top = max(counts.items(), key=lambda item: item[1]) if counts else (None, None)
    shots = result.shots if result.shots is not None else (sum(counts.values()) if counts else None)
    shaped = result.shape is not None  # a sweep's values may be thousands: its first few
    return {
        "shots": shots,
        "outcomes": len(counts) if counts is not None else None,
        "top_outcome": top[0] or "",
        "top_count": top[1],
        "evs": result.evs[:EVENT_VALUES] if shaped and result.evs is not None else result.evs,
        "stds": result.stds[:EVENT_VALUES] if shaped and result.stds is not None else result.stds,
    }


def row_values(result: CircuitResult) -> dict[str, Any]:
    """The ``JobCircuit`` columns that store ``result`` (field names as keys)."""
    counts = result.counts
    registers = registers_of(result)
    brief = summary(result)
    return {
        "counts_blob": pack_counts(counts) if counts is not None else None,
        "shots": brief["shots"],
        "outcomes": brief["outcomes"],
        "top_outcome": brief["top_outcome"],
        "top_count": brief["top_count"],
        "registers": registers,
        # Only what the counts do not already say.
        "given_register_counts": result.register_counts if registers is None and result.register_counts else None,
        "exact_probabilities": result.probabilities if counts is None else None,
        "evs": result.evs,
        "stds": result.stds,
        "metadata": result.metadata,
        "memory_blob": _memory_blob(result),
        "shape": None if result.shape is None else list(result.shape),
        "binding_counts": result.binding_counts,
    }


def _memory_blob(result: CircuitResult) -> bytes | None:
    array = result.memory_array()
    if array is None:
        return None
    return pack_memory(result.memory, result.memory_bits, len(array))


def shaped(flat: list | None, shape: list | None) -> Any:
    """A swept PUB's stored flat values (C order) nested to its ``shape`` (a bare value for shape
    ``()``); ``flat`` as it is without a shape or when it does not hold that many values."""
    if flat is None or shape is None:
        return flat
    if len(flat) != int(np.prod(shape, dtype=np.int64)):
        return flat
    items = np.empty(len(flat), dtype=object)
    items[:] = flat
    nested = items.reshape(tuple(shape))
    return nested.item() if nested.ndim == 0 else nested.tolist()
