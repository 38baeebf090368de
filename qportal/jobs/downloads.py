"""Whole-job downloads, streamed: JSON lines, CSV and NumPy ``.npz``.

The circuits are read ``BATCH`` at a time in index order (the (job, index) key) and written out
one by one, so a download holds one batch's packed results and one circuit's decoded ones, never
the job.  Under ASGI the stream must be an async iterator: Django turns a sync one into a list
first (``StreamingHttpResponse.__aiter__``), which is the whole job in memory.

- ``jsonl``: a first line ``{"job": ...}`` (the job as ``GET /api/v1/jobs`` lists it, with its
  ``usage`` object), then one line
  per circuit, as ``GET /api/v1/jobs/{id}/results`` answers it; with ``memory`` as
  ``/results?memory=true`` answers it (each kept shot's bitstring: a line per circuit stays bounded,
  at most 100,000 strings).
- ``csv``: one row per outcome (sampler: circuit, circuit_name, bitstring, count, probability) or
  per observable (estimator: circuit, circuit_name, observable_index, observable, ev, std).  Never
  the shots: one row per shot is what the npz file holds in a byte or a few per shot.
- ``npz``: per circuit ``c{i}_outcomes`` (each outcome's bitstring as an unsigned integer, uint64;
  as strings when wider than 64 bits) and ``c{i}_counts`` (int64), or ``c{i}_evs`` and ``c{i}_stds``
  (of the PUB's shape for a sweep);
  for a circuit that kept its shots, ``c{i}_memory`` (uint8, shape (shots, ceil(bits / 8)),
  big-endian: Qiskit's ``BitArray`` layout) and ``c{i}_memory_bits`` (its number of bits), so
  ``qiskit.primitives.BitArray(data["c0_memory"], int(data["c0_memory_bits"]))`` rebuilds it;
  then ``usage_qpu_seconds``, ``usage_wall_seconds``, ``usage_cpu_seconds`` (whichever apply, 0-d)
  and ``index``, ``name`` and ``num_qubits`` (one entry per circuit).  ``numpy.load`` reads it.
"""

from __future__ import annotations

import csv
import io
import json
import math
import zipfile
from collections.abc import AsyncIterator, Iterator

import numpy as np
from asgiref.sync import sync_to_async
from django.core.handlers.asgi import ASGIRequest
from django.http import StreamingHttpResponse
from ninja.responses import NinjaJSONEncoder

from executors.base import InvalidRequest
from executors.sweeps import observable_labels
from qportal.jobs import services, stored_results, usage
from qportal.jobs.detail import job_summary
from qportal.jobs.models import Job, JobCircuit
from qportal.jobs.schemas import CircuitResultOut

FORMATS = {
    "jsonl": "application/x-ndjson",
    "csv": "text/csv; charset=utf-8",
    "npz": "application/octet-stream",
}
BATCH = 20  # circuits read per query: 20 wide 16-qubit distributions are about 0.5 MB packed
MEMORY_BATCH = 4  # with their shots: 100,000 shots of 64 random bits are 0.8 MB packed
_RESULT_FIELDS = list(CircuitResultOut.model_fields)


def response(request, job: Job, fmt: str, *, memory: bool = False) -> StreamingHttpResponse:
    """The job's results as an attachment in ``fmt``, streamed; an unknown format is a 400.
    ``memory``: JSON lines carry each kept shot's bitstring (npz always has the shots, csv never)."""
    if fmt not in FORMATS:
        raise InvalidRequest(f"unknown format {fmt!r}; one of {', '.join(FORMATS)}")
    if memory and fmt != "jsonl":
        raise InvalidRequest("memory=true is for format=jsonl; npz always holds the kept shots, csv never does")
    parts = _jsonl(job, memory=memory) if fmt == "jsonl" else _WRITERS[fmt](job)
    content = _drained(parts) if isinstance(request, ASGIRequest) else parts
    answer = StreamingHttpResponse(content, content_type=FORMATS[fmt])
    answer["Content-Disposition"] = f'attachment; filename="qportal-{job.id}.{fmt}"'
    return answer


async def _drained(parts: Iterator[bytes]) -> AsyncIterator[bytes]:
    """``parts`` advanced in a thread, one part at a time (each reads the database)."""
    end = object()
    while (part := await sync_to_async(next)(parts, end)) is not end:
        yield part


def _circuits(job: Job, *, memory: bool = False) -> Iterator[JobCircuit]:
    """The job's circuits in index order, a batch per query; ``memory``: with their stored shots."""
    start, size = 0, MEMORY_BATCH if memory else BATCH
    while True:
        batch = list(services.result_rows(job, memory=memory).filter(index__gte=start)[:size])
        yield from batch
        if len(batch) < size:
            return
        start = batch[-1].index + 1


def _jsonl(job: Job, *, memory: bool = False) -> Iterator[bytes]:
    encoder = NinjaJSONEncoder(separators=(",", ":"))
    yield (encoder.encode({"job": {**job_summary(job), "usage": usage.job_usage(job.id)}}) + "\n").encode()
    for circuit in _circuits(job, memory=memory):
        yield (encoder.encode({name: getattr(circuit, name) for name in _RESULT_FIELDS}) + "\n").encode()


def _csv(job: Job) -> Iterator[bytes]:
    out = io.StringIO()
    writer = csv.writer(out)
    if job.primitive == "estimator":
        writer.writerow(["circuit", "circuit_name", "observable_index", "observable", "ev", "std"])
    else:
        writer.writerow(["circuit", "circuit_name", "bitstring", "count", "probability"])
    for circuit in _circuits(job):
        if job.primitive == "estimator":
            observables = observable_labels(circuit.observables, len(circuit.evs or []), circuit.shape)
            stds = circuit.stds or [None] * len(circuit.evs or [])
            for i, ev in enumerate(circuit.evs or []):
                label = observables[i] if i < len(observables) else ""
                label = label if isinstance(label, str) else json.dumps(label)
                writer.writerow([circuit.index, circuit.name, i, label, ev, stds[i]])
        else:
            counts = circuit.counts or {}
            total = circuit.shots or sum(counts.values()) or 1
            for key, value in sorted(counts.items()):
                writer.writerow([circuit.index, circuit.name, key, value, f"{value / total:.6g}"])
        yield out.getvalue().encode()
        out.seek(0)
        out.truncate()


class _Sink:
    """A write-only stream whose bytes are taken after each member: ``zipfile`` writes an
    unseekable stream with data descriptors, so the archive never has to be held whole."""

    def __init__(self):
        self.parts: list[bytes] = []

    def write(self, data) -> int:
        self.parts.append(bytes(data))
        return len(data)

    def flush(self) -> None:
        pass

    def take(self) -> bytes:
        data, self.parts = b"".join(self.parts), []
        return data


def _npz(job: Job) -> Iterator[bytes]:
    sink = _Sink()
    indices, names, qubits = [], [], []
    with zipfile.ZipFile(sink, mode="w", compression=zipfile.ZIP_STORED, allowZip64=True) as archive:

        def member(name: str, array: np.ndarray) -> None:
            with archive.open(f"{name}.npy", mode="w", force_zip64=True) as handle:
                np.lib.format.write_array(handle, np.asanyarray(array), allow_pickle=False)

        for circuit in _circuits(job, memory=job.memory):
            indices.append(circuit.index)
            names.append(circuit.name)
            qubits.append(circuit.num_qubits)
            prefix = f"c{circuit.index}"
            if circuit.evs is not None:
                evs, stds = np.asarray(circuit.evs, dtype=float), np.asarray(circuit.stds or [], dtype=float)
                if circuit.shape is not None and evs.size == stds.size == math.prod(circuit.shape):
                    evs, stds = evs.reshape(circuit.shape), stds.reshape(circuit.shape)  # a PUB's shape
                member(f"{prefix}_evs", evs)
                member(f"{prefix}_stds", stds)
            elif circuit.counts_blob is not None:
                outcomes, counts = stored_results.unpack_arrays(circuit.counts_blob)
                member(f"{prefix}_outcomes", outcomes)
                member(f"{prefix}_counts", counts)
            shots = stored_results.unpack_memory(circuit.memory_blob) if job.memory else None
            if shots is not None:
                member(f"{prefix}_memory", shots[0])
                member(f"{prefix}_memory_bits", np.asarray(shots[1], dtype=np.int64))
            yield sink.take()
        for name, value in (usage.job_usage(job.id) or {}).items():  # usage_qpu_seconds, usage_wall_seconds...
            member(f"usage_{name}", np.asarray(value, dtype=float))
        member("index", np.asarray(indices, dtype=np.int64))
        member("name", np.asarray(names, dtype=str))
        member("num_qubits", np.asarray(qubits, dtype=np.int64))
    yield sink.take()


_WRITERS = {"jsonl": _jsonl, "csv": _csv, "npz": _npz}
