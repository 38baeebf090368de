"""Qiskit Runtime SamplerV2/EstimatorV2 on qiskit-ibm-runtime's fake backends (local mode).

A fake backend (``"fake_manila"``...) carries a real device's qubit count, coupling map, gate set
and calibrated noise; its primitives run on Aer in this process, offline.  Jobs are built as the
IBM cloud executor builds them (:mod:`executors.runtime`), so both paths transpile, set options
and read results the same way.

Options (``ExecutorSpec.options``, with the request's own over them: :mod:`executors.job_options`):
``optimization_level`` (0-3, our transpilation), ``seed`` (simulator and transpiler seed; local
mode ignores 0), ``noise`` (False runs ideal Aer on the device's layout), and of the primitives'
options what qiskit-ibm-runtime's local testing mode applies: ``default_shots``,
``default_precision``, ``simulator.seed_simulator`` and ``execution.meas_type`` ("classified").
Every other option (resilience, twirling, dynamical decoupling...) has no effect here and is
listed, by dotted path, in the result's ``ignored_options``.
"""

from __future__ import annotations

import asyncio
import time
import warnings
from dataclasses import dataclass, field
from functools import cache, lru_cache
from typing import Any

from qiskit import QuantumCircuit
from qiskit.providers import BackendV2
from qiskit.providers.exceptions import QiskitBackendNotFoundError
from qiskit_aer import AerSimulator
from qiskit_ibm_runtime import Batch, EstimatorV2, SamplerV2, Session
from qiskit_ibm_runtime.fake_provider import FakeProviderForBackendV2

from executors.base import CircuitResult, ExecutionRequest, ExecutorSpec, InvalidRequest, JobHandle
from executors.device import calibration_of
from executors.inprocess import InProcessExecutor
from executors.job_options import effective_options, ignored_options, precision_of, seed_of
from executors.provenance import isa_summary
from executors.pubs import build_pubs, estimator_circuit, estimator_precision, pub_form
from executors.results import convert_estimator_result, convert_sampler_result
from executors.runtime import DEFAULT_OPTIMIZATION_LEVEL, check_isa, transpile_to_isa

__all__ = ["FakeBackendExecutor", "fake_backend", "fake_backend_qubits", "list_fake_backends"]


@lru_cache(maxsize=1)
def _provider() -> FakeProviderForBackendV2:
    with warnings.catch_warnings():
        # fake_nighthawk warns at construction that its error rates are not typical
        warnings.filterwarnings("ignore", message="Properties of fake_", category=UserWarning)
        return FakeProviderForBackendV2()


@cache
def fake_backend(name: str) -> BackendV2:
    """The fake backend called ``name`` (e.g. ``"fake_manila"``), built once per process."""
    if not name:
        raise InvalidRequest("choose a fake backend, e.g. 'fake_manila'")
    try:
        return _provider().backend(name)
    except QiskitBackendNotFoundError:
        raise InvalidRequest(
            f"unknown fake backend {name!r}; known ones include "
            + ", ".join(item["name"] for item in list_fake_backends()[:8])
            + "..."
        ) from None


@cache
def _ideal_twin(name: str) -> AerSimulator:
    """A noiseless Aer simulator with the fake backend's target (gates, coupling map)."""
    simulator = AerSimulator.from_backend(fake_backend(name))
    simulator.set_options(noise_model=None)
    return simulator


def fake_backend_qubits(name: str) -> int:
    """Qubit count of a fake backend, read from its configuration (building the target is slow)."""
    return fake_backend(name).configuration().n_qubits


@lru_cache(maxsize=1)
def _fake_backend_list() -> tuple[tuple[str, int], ...]:
    return tuple(sorted((backend.name, backend.configuration().n_qubits) for backend in _provider().backends()))


def list_fake_backends() -> list[dict[str, Any]]:
    """Every fake backend as ``{"name": ..., "num_qubits": ...}``, sorted by name."""
    return [{"name": name, "num_qubits": qubits} for name, qubits in _fake_backend_list()]


@dataclass
class _Prepared:
    circuits: list[QuantumCircuit]
    mode: Any
    layouts: list[list[int] | None] = field(default_factory=list)


class FakeBackendExecutor(InProcessExecutor):
    """Runtime primitives on a fake IBM backend (see the module docstring for options)."""

    def __init__(self, spec: ExecutorSpec):
        super().__init__(spec)
        self.name = spec.backend
        self.backend = fake_backend(spec.backend)
        self.noise = bool(spec.options.get("noise", True))
        if self.noise and self.backend.sim is None:
            # The runtime's local mode runs a deep copy of the backend: loaded here once (per process),
            # the noise model travels with the copy instead of being built again for every job.
            self.backend._setup_sim()

    @property
    def optimization_level(self) -> int:
        level = self.spec.options.get("optimization_level")
        return DEFAULT_OPTIMIZATION_LEVEL if level is None else int(level)

    def max_qubits(self) -> int | None:
        return fake_backend_qubits(self.name)

    def queue_length(self) -> int:
        """The fake backend's ``status().pending_jobs`` (what a cluster's ``least_busy`` reads)."""
        return int(self.backend.status().pending_jobs)

    def validate(self, request: ExecutionRequest) -> None:
        super().validate(request)
        if not 0 <= self.optimization_level <= 3:
            raise InvalidRequest(f"optimization_level must be 0..3, got {self.optimization_level}")

    async def submit(self, request: ExecutionRequest) -> JobHandle:
        """As for any in-process job; the handle carries the fake device's calibration."""
        handle = await super().submit(request)
        handle.calibration = await asyncio.to_thread(calibration_of, self.backend)
        return handle

    def _run_backend(self) -> BackendV2:
        return self.backend if self.noise else _ideal_twin(self.backend.name)

    def _prepare(self, request: ExecutionRequest) -> _Prepared:
        circuits = list(request.circuits)
        if request.primitive == "estimator":
            circuits = [estimator_circuit(circuit) for circuit in circuits]
        if self.spec.local_transpile:
            options = effective_options(self.spec.options, request.options)
            level = options.get("optimization_level", self.optimization_level)
            circuits = transpile_to_isa(circuits, self.backend, int(level), options.get("seed"))
        else:
            check_isa(circuits, self.backend)
        layouts = [c.layout.final_index_layout() if c.layout is not None else None for c in circuits]
        backend = self._run_backend()
        if self.spec.mode == "session":
            mode: Any = Session(backend=backend, max_time=self.spec.max_time)
        elif self.spec.mode == "batch":
            mode = Batch(backend=backend, max_time=self.spec.max_time)
        else:
            mode = backend
        return _Prepared(circuits, mode, layouts)

    def _execute(
        self, request: ExecutionRequest, prepared: _Prepared, indices: list[int], shots: int
    ) -> list[CircuitResult]:
        pubs = build_pubs(request, prepared.circuits, indices)
        merged = effective_options(self.spec.options, request.options)
        options = _local_testing_options(request.primitive, merged)
        started = time.perf_counter()
        if request.primitive == "sampler":
            result = SamplerV2(mode=prepared.mode, options=options).run(pubs, shots=shots).result()
            call = {"call_time": time.perf_counter() - started}
            converted = convert_sampler_result(result, indices, call, memory=request.memory)
        else:
            estimator = EstimatorV2(mode=prepared.mode, options=options)
            precision = precision_of("estimator", merged) or estimator_precision(shots)
            result = estimator.run(pubs, precision=precision).result()
            call = {"call_time": time.perf_counter() - started}
            converted = convert_estimator_result(result, indices, shots, call, pub_form(request, indices))
        for circuit_result in converted:
            circuit_result.metadata["physical_qubits"] = prepared.layouts[circuit_result.index]
            circuit_result.metadata["isa"] = isa_summary(prepared.circuits[circuit_result.index], circuit_result.index)
        return converted

    def _finish(self, prepared: _Prepared) -> None:
        if isinstance(prepared.mode, (Session, Batch)):
            prepared.mode.close()

    def _metadata(self, request: ExecutionRequest, prepared: _Prepared) -> dict[str, Any]:
        merged = effective_options(self.spec.options, request.options)
        return {
            "backend": self.name,
            "noise": self.noise,
            "mode": self.spec.mode,
            "optimization_level": merged.get("optimization_level", self.optimization_level)
            if self.spec.local_transpile
            else None,
            "ignored_options": ignored_options(request.primitive, merged, "fake"),
        }


def _local_testing_options(primitive: str, merged: dict[str, Any]) -> dict[str, Any]:
    """The primitive options local testing mode applies (the shots and precision go to ``run``)."""
    options: dict[str, Any] = {}
    seed = seed_of(merged)
    if seed is not None:
        options["simulator"] = {"seed_simulator": seed}
    if primitive == "sampler" and (merged.get("execution") or {}).get("meas_type") == "classified":
        options["execution"] = {"meas_type": "classified"}
    return options
