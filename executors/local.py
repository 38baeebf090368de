"""Ideal local simulation with qiskit-aer's SamplerV2 and EstimatorV2.

Options (``ExecutorSpec.options``): ``seed`` (int, reproducible sampling), ``default_shots``,
``method`` (an AerSimulator method such as ``"statevector"`` or ``"matrix_product_state"``).
Estimator results are exact expectation values plus Gaussian noise of width 1/sqrt(shots), the
spread a real shot-based estimate would have; ``stds`` reports that width.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from qiskit import QuantumCircuit, transpile
from qiskit.circuit import ControlFlowOp
from qiskit.transpiler import Target
from qiskit_aer import AerSimulator
from qiskit_aer.primitives import EstimatorV2, SamplerV2

from executors.base import CircuitResult, ExecutionRequest, ExecutorSpec
from executors.circuits import operation_names
from executors.inprocess import InProcessExecutor
from executors.pubs import bind_parameters, build_pubs, estimator_circuit, estimator_precision
from executors.results import convert_estimator_result, convert_sampler_result

# Directives Aer executes although its target does not list them.
_DIRECTIVES = frozenset({"barrier"})
# Below Aer's statevector_parallel_threshold its OpenMP threads cost more than they save
# (100 small QASMBench circuits: 2.2 s threaded vs 0.9 s single-threaded on a busy 2-core box).
_PARALLEL_QUBITS = 14
# Jobs within these bounds run in the caller's thread even with process isolation (runs_inline).
_STATEVECTOR_LIKE = frozenset({"automatic", "statevector", "stabilizer"})
_INLINE_QUBITS = 8
_INLINE_OPERATIONS = 64  # over all circuits of the job, measurements included
_INLINE_SHOTS = 4096  # shots x circuits


@lru_cache(maxsize=8)
def _simulator(method: str) -> AerSimulator:
    return AerSimulator(method=method)


@lru_cache(maxsize=8)
def _target(method: str) -> Target:
    # AerSimulator.target builds a new Target on every access (~2 ms, ~100 gates): build it once.
    return _simulator(method).target


@dataclass
class _Prepared:
    circuits: list[QuantumCircuit]
    transpiled: list[int]


class LocalSimulatorExecutor(InProcessExecutor):
    """Runs circuits on an ideal Aer simulator in this process (see the module docstring)."""

    def __init__(self, spec: ExecutorSpec | None = None):
        super().__init__(spec or ExecutorSpec(kind="local"))
        self.method = str(self.spec.options.get("method") or "automatic")
        self.name = self.spec.backend or "aer_simulator"
        self._backend = _simulator(self.method)
        self._target = _target(self.method)
        self._supported = frozenset(self._target.operation_names) | _DIRECTIVES

    @property
    def seed(self) -> int | None:
        seed = self.spec.options.get("seed")
        return None if seed is None else int(seed)

    def max_qubits(self) -> int | None:
        return self._backend.configuration().n_qubits

    def runs_inline(self, request: ExecutionRequest, shots: int) -> bool:
        """True for a job small enough to run in the caller's thread even with isolation on.

        The hop to a child process (pickling both ways, a process round trip) costs more than such
        a simulation, and it holds the GIL for about 20 ms at most (measured on a busy 2-CPU
        machine: 64 gates on 8 qubits at 4096 shots 19 ms, a Bell circuit at 1024 shots 4 ms).
        Only sampler circuits that measure at the end qualify: Aer then evolves the state once and
        samples the shots from it, whereas a circuit that measures mid-way or resets is simulated
        shot by shot.
        """
        if request.primitive != "sampler" or self.method not in _STATEVECTOR_LIKE:
            return False
        if shots * len(request.circuits) > _INLINE_SHOTS:
            return False
        operations = 0
        for circuit in request.circuits:
            count = _operations_if_measured_at_end(circuit)
            if count is None or circuit.num_qubits > _INLINE_QUBITS:
                return False
            operations += count
        return operations <= _INLINE_OPERATIONS

    def needs_transpile(self, circuit: QuantumCircuit) -> bool:
        """True when the circuit uses an operation Aer cannot run directly (e.g. a custom gate)."""
        return not operation_names(circuit) <= self._supported

    def _prepare(self, request: ExecutionRequest) -> _Prepared:
        circuits, transpiled = [], []
        for index, circuit in enumerate(request.circuits):
            if request.primitive == "estimator":
                circuit = estimator_circuit(circuit)
            # Aer 0.17 binds some parameter expressions wrongly (crz(a + b) after rx(b) loses the
            # rx), so values are assigned here, exactly, rather than passed to Aer as bindings.
            circuit = bind_parameters(request, index, circuit)
            if self.needs_transpile(circuit):
                circuit = transpile(circuit, target=self._target, optimization_level=0)
                transpiled.append(index)
            circuits.append(circuit)
        return _Prepared(circuits, transpiled)

    def _execute(
        self, request: ExecutionRequest, prepared: _Prepared, indices: list[int], shots: int
    ) -> list[CircuitResult]:
        pubs = build_pubs(request, prepared.circuits, indices, values_bound=True)
        backend_options: dict[str, Any] = {"method": self.method}
        if max(prepared.circuits[index].num_qubits for index in indices) < _PARALLEL_QUBITS:
            backend_options["max_parallel_threads"] = 1
        options: dict[str, Any] = {"backend_options": backend_options}
        started = time.perf_counter()
        if request.primitive == "sampler":
            sampler = SamplerV2(default_shots=shots, seed=self.seed, options=options)
            result = sampler.run(pubs, shots=shots).result()
            return convert_sampler_result(result, indices, _call_metadata(started, len(pubs)))
        if self.seed is not None:
            options["run_options"] = {"seed_simulator": self.seed}
        estimator = EstimatorV2(options=options)
        result = estimator.run(pubs, precision=estimator_precision(shots)).result()
        return convert_estimator_result(result, indices, shots, _call_metadata(started, len(pubs)))

    def _metadata(self, request: ExecutionRequest, prepared: _Prepared) -> dict[str, Any]:
        return {"backend": self.name, "method": self.method, "transpiled": prepared.transpiled}


def _operations_if_measured_at_end(circuit: QuantumCircuit) -> int | None:
    """The number of operations when no qubit is touched after its measurement and nothing resets
    or branches; otherwise None."""
    measured: set = set()
    for instruction in circuit.data:
        name = instruction.operation.name
        if name in ("reset", "initialize") or isinstance(instruction.operation, ControlFlowOp):
            return None
        if name == "measure":
            measured.update(instruction.qubits)
        elif name != "barrier" and measured.intersection(instruction.qubits):
            return None
    return len(circuit.data)


def _call_metadata(started: float, pubs: int) -> dict[str, Any]:
    return {"call_time": time.perf_counter() - started, "pubs_in_call": pubs}
