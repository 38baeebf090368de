"""Qiskit Runtime SamplerV2/EstimatorV2 on qiskit-ibm-runtime's fake backends (local mode).

A fake backend (``"fake_manila"``...) carries a real device's qubit count, coupling map, gate set
and calibrated noise; its primitives run on Aer in this process, offline.  The helpers here
(:func:`transpile_to_isa`, :func:`build_pubs`, :func:`make_options`, the result converters) are
also what the IBM cloud executor uses, so both paths build and read jobs the same way.

Options (``ExecutorSpec.options``): ``optimization_level`` (0-3, our transpilation),
``default_shots``, ``seed`` (simulator and transpiler seed; local mode ignores 0),
``noise`` (False runs ideal Aer on the device's layout), and for the cloud only
``resilience_level``, ``dynamical_decoupling``, ``twirling``, ``max_execution_time``:
local mode has no effect for those and they are reported as ``ignored_options``.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass, field
from functools import cache, lru_cache
from typing import Any

from qiskit import QuantumCircuit
from qiskit.providers import BackendV2
from qiskit.providers.exceptions import QiskitBackendNotFoundError
from qiskit.transpiler import generate_preset_pass_manager
from qiskit_aer import AerSimulator
from qiskit_ibm_runtime import Batch, EstimatorV2, SamplerV2, Session
from qiskit_ibm_runtime.fake_provider import FakeProviderForBackendV2
from qiskit_ibm_runtime.utils.utils import is_isa_circuit

from executors.base import CircuitResult, ExecutionRequest, ExecutorSpec, InvalidRequest, Primitive
from executors.inprocess import InProcessExecutor
from executors.pubs import build_pubs, estimator_circuit, estimator_precision
from executors.results import convert_estimator_result, convert_sampler_result

__all__ = [
    "RuntimeExecutor",
    "build_pubs",
    "convert_estimator_result",
    "convert_sampler_result",
    "fake_backend",
    "fake_backend_qubits",
    "list_fake_backends",
    "make_options",
    "transpile_to_isa",
]

CLOUD_ONLY_OPTIONS = ("resilience_level", "dynamical_decoupling", "twirling", "max_execution_time")
DEFAULT_OPTIMIZATION_LEVEL = 2


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


def transpile_to_isa(
    circuits: list[QuantumCircuit], backend: BackendV2, optimization_level: int, seed: int | None = None
) -> list[QuantumCircuit]:
    """Circuits rewritten for ``backend``'s instruction set and coupling map.

    A circuit the device cannot express (too wide, an unsupported operation) raises
    :class:`InvalidRequest` naming the circuit.
    """
    pass_manager = generate_preset_pass_manager(
        backend=backend, optimization_level=optimization_level, seed_transpiler=seed
    )
    isa = []
    for index, circuit in enumerate(circuits):
        try:
            isa.append(pass_manager.run(circuit))
        except Exception as exc:  # noqa: BLE001 - TranspilerError and friends
            raise InvalidRequest(
                f"circuit {index} cannot be transpiled for {backend.name}: {exc}", index=index
            ) from exc
    return isa


def check_isa(circuits: list[QuantumCircuit], backend: BackendV2) -> None:
    """Raise :class:`InvalidRequest` for a circuit that is not already in ``backend``'s ISA."""
    for index, circuit in enumerate(circuits):
        problem = is_isa_circuit(circuit, backend.target)
        if problem:
            raise InvalidRequest(
                f"circuit {index} does not match {backend.name}'s instruction set ({problem}); "
                "turn on local transpilation or transpile it first",
                index=index,
            )


def make_options(
    spec_options: dict[str, Any],
    primitive: Primitive,
    *,
    local: bool,
    default_shots: int | None = None,
    tags: list[str] | None = None,
) -> dict[str, Any]:
    """The ``options`` dict for a qiskit-ibm-runtime SamplerV2/EstimatorV2 from profile options.

    ``local`` leaves out what local testing mode cannot honour (see ``CLOUD_ONLY_OPTIONS``).
    ``dynamical_decoupling`` and ``twirling`` accept True/False or a dict of Qiskit's own fields.
    """
    options: dict[str, Any] = {}
    if default_shots is not None:
        options["default_shots"] = int(default_shots)
    seed = spec_options.get("seed")
    if seed is not None:
        options["simulator"] = {"seed_simulator": int(seed)}
        if primitive == "estimator" and not local:
            options["seed_estimator"] = int(seed)
    if local:
        return options
    if primitive == "estimator" and spec_options.get("resilience_level") is not None:
        options["resilience_level"] = int(spec_options["resilience_level"])
    decoupling = spec_options.get("dynamical_decoupling")
    if decoupling is not None:
        options["dynamical_decoupling"] = decoupling if isinstance(decoupling, dict) else {"enable": bool(decoupling)}
    twirling = spec_options.get("twirling")
    if twirling is not None:
        options["twirling"] = (
            twirling
            if isinstance(twirling, dict)
            else {"enable_gates": bool(twirling), "enable_measure": bool(twirling)}
        )
    if spec_options.get("max_execution_time") is not None:
        options["max_execution_time"] = int(spec_options["max_execution_time"])
    if tags:
        options["environment"] = {"job_tags": list(tags)}
    return options


@dataclass
class _Prepared:
    circuits: list[QuantumCircuit]
    mode: Any
    layouts: list[list[int] | None] = field(default_factory=list)


class RuntimeExecutor(InProcessExecutor):
    """Runtime primitives on a fake IBM backend (see the module docstring for options)."""

    def __init__(self, spec: ExecutorSpec):
        super().__init__(spec)
        self.name = spec.backend
        self.backend = fake_backend(spec.backend)
        self.noise = bool(spec.options.get("noise", True))

    @property
    def optimization_level(self) -> int:
        level = self.spec.options.get("optimization_level")
        return DEFAULT_OPTIMIZATION_LEVEL if level is None else int(level)

    def max_qubits(self) -> int | None:
        return fake_backend_qubits(self.name)

    def validate(self, request: ExecutionRequest) -> None:
        super().validate(request)
        if not 0 <= self.optimization_level <= 3:
            raise InvalidRequest(f"optimization_level must be 0..3, got {self.optimization_level}")

    def _run_backend(self) -> BackendV2:
        return self.backend if self.noise else _ideal_twin(self.backend.name)

    def _prepare(self, request: ExecutionRequest) -> _Prepared:
        circuits = list(request.circuits)
        if request.primitive == "estimator":
            circuits = [estimator_circuit(circuit) for circuit in circuits]
        if self.spec.local_transpile:
            seed = self.spec.options.get("seed")
            circuits = transpile_to_isa(circuits, self.backend, self.optimization_level, seed)
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
        options = make_options(self.spec.options, request.primitive, local=True)
        started = time.perf_counter()
        if request.primitive == "sampler":
            result = SamplerV2(mode=prepared.mode, options=options).run(pubs, shots=shots).result()
            converted = convert_sampler_result(result, indices, {"call_time": time.perf_counter() - started})
        else:
            estimator = EstimatorV2(mode=prepared.mode, options=options)
            result = estimator.run(pubs, precision=estimator_precision(shots)).result()
            converted = convert_estimator_result(result, indices, shots, {"call_time": time.perf_counter() - started})
        for circuit_result in converted:
            circuit_result.metadata["physical_qubits"] = prepared.layouts[circuit_result.index]
        return converted

    def _finish(self, prepared: _Prepared) -> None:
        if isinstance(prepared.mode, (Session, Batch)):
            prepared.mode.close()

    def _metadata(self, request: ExecutionRequest, prepared: _Prepared) -> dict[str, Any]:
        ignored = [key for key in CLOUD_ONLY_OPTIONS if self.spec.options.get(key) is not None]
        return {
            "backend": self.name,
            "noise": self.noise,
            "mode": self.spec.mode,
            "optimization_level": self.optimization_level if self.spec.local_transpile else None,
            "ignored_options": ignored,
        }
