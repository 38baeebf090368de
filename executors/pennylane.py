"""Run Qiskit circuits on a PennyLane device (the role of Covalent's ``IBMQExecutor``).

Any PennyLane device works: ``"default.qubit"``, ``"lightning.qubit"``, or pennylane-qiskit's
``"qiskit.aer"`` and ``"qiskit.remote"`` (pass its ``backend=`` etc. as device keyword arguments).
Each circuit is one job on a thread pool of ``max_jobs`` threads; every thread keeps its own
device instances, since devices are not guaranteed to be thread-safe.

With process isolation on (the portal's worker: ``executors.isolation``), a device that simulates
on this machine (``default.*``, ``lightning.*``, ``qiskit.aer``) runs each circuit in a simulator
child process, as local jobs do: a circuit that exhausts memory ends its child and its own job,
never the worker.  Remote devices and scripts without isolation use the thread pool.

Shots follow the seeds' rule: ``shots=0`` (default) uses the request's shots (a qelectron passes
its QNode's shots); ``None`` runs analytically (exact ``probabilities``, no ``counts``; exact
``evs``, zero ``stds``); a positive int overrides.
"""

from __future__ import annotations

import asyncio
import dataclasses
import pickle
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import pennylane as qml
from pennylane.queuing import AnnotatedQueue
from qiskit import QuantumCircuit

from executors import isolation, usage
from executors.base import (
    CircuitResult,
    ExecutionRequest,
    ExecutionResult,
    ExecutorError,
    ExecutorSpec,
    InvalidRequest,
    RemoteJobFailed,
)
from executors.circuits import parameter_values, to_observables, validate_request
from executors.memory import job_state_bytes
from executors.taskjobs import TaskJobs

_CACHE = 256
# Devices that simulate in this process's memory (the rest reach a remote service).
LOCAL_DEVICES = ("default.", "lightning.", "qiskit.aer")


class _Loaded:
    """A circuit converted once: its unitary part as a PennyLane qfunc and its measure map."""

    def __init__(self, circuit: QuantumCircuit, index: int):
        body = circuit.copy_empty_like()
        measured: dict[int, int] = {}  # clbit -> qubit
        done: set[int] = set()
        for instruction in circuit.data:
            qubits = [circuit.find_bit(q).index for q in instruction.qubits]
            name = instruction.operation.name
            if name == "measure":
                measured[circuit.find_bit(instruction.clbits[0]).index] = qubits[0]
                done.add(qubits[0])
            elif name == "barrier":
                continue
            elif done.intersection(qubits) or instruction.clbits:
                raise InvalidRequest(
                    f"circuit {index}: only final measurements are supported on PennyLane devices",
                    index=index,
                )
            else:
                body.append(instruction)
        self.circuit = circuit
        self.num_qubits = circuit.num_qubits
        self.num_clbits = circuit.num_clbits
        self.measured = measured
        self.wires = sorted(set(measured.values()))
        self.parameters = tuple(circuit.parameters)
        self.qfunc = qml.from_qiskit(body)


def _bindings(parameters: tuple, values: list[float]) -> dict[Any, Any]:
    """Values keyed as ``qml.from_qiskit`` wants them: a ``ParameterVector`` takes one list."""
    bindings: dict[Any, Any] = {}
    for parameter, value in zip(parameters, values, strict=False):
        vector = getattr(parameter, "vector", None)
        if vector is None:
            bindings[parameter] = value
        else:
            bindings.setdefault(vector, [0.0] * len(vector))[parameter.index] = value
    return bindings


class PennyLaneDeviceExecutor(TaskJobs):
    """An :class:`~executors.base.Executor` running circuits on a PennyLane device.

    ``PennyLaneDeviceExecutor("default.qubit", shots=0, max_jobs=20, **device_kwargs)`` or
    ``PennyLaneDeviceExecutor(ExecutorSpec(kind="pennylane", backend=..., options={...}))`` where
    options may hold ``shots`` (override, as above), ``max_jobs`` and ``device_options``.
    ``default_shots`` (a spec's ``shots``) is used when the request has none and ``shots=0``.
    """

    def __init__(
        self,
        device: str | ExecutorSpec = "default.qubit",
        *,
        shots: int | None = 0,
        max_jobs: int = 20,
        default_shots: int | None = None,
        name: str | None = None,
        **device_kwargs: Any,
    ):
        if isinstance(device, ExecutorSpec):
            spec = device
            device = spec.backend or "default.qubit"
            shots = spec.options.get("shots", 0)
            max_jobs = int(spec.options.get("max_jobs", max_jobs))
            default_shots = spec.shots
            device_kwargs = dict(spec.options.get("device_options") or {})
        if shots is not None and (isinstance(shots, bool) or not isinstance(shots, int) or shots < 0):
            raise InvalidRequest(f"shots must be 0, None or a positive integer, got {shots!r}")
        if max_jobs < 1:
            raise InvalidRequest("max_jobs must be at least 1")
        self.device_name = device
        self.shots = shots
        self.max_jobs = max_jobs
        self.default_shots = default_shots
        self.device_kwargs = device_kwargs
        self.name = name or f"pennylane:{device}"
        self._pool: ThreadPoolExecutor | None = None
        self._pool_lock = threading.Lock()
        self._local = threading.local()
        self._loaded: dict[int, _Loaded] = {}

    def max_qubits(self) -> int | None:
        return None

    def validate(self, request: ExecutionRequest) -> None:
        validate_request(request, None, self.name)
        if request.memory:
            raise InvalidRequest(
                f"{self.name} returns counts only, not each shot's outcome: run it without memory, "
                "or with memory on a Qiskit profile (local, fake or IBM)"
            )

    def effective_shots(self, request: ExecutionRequest) -> int | None:
        """Shots a request runs with under the seeds' rule (None: analytic)."""
        if self.shots != 0:
            return self.shots
        return request.shots if request.shots is not None else self.default_shots

    async def run(self, request: ExecutionRequest) -> ExecutionResult:
        with usage.metering() as meter:  # CPU of the device threads or simulator children
            result = await self._run_metered(request, meter)
        result.usage = meter.usage()
        return result

    async def _run_metered(self, request: ExecutionRequest, meter: usage.CpuMeter) -> ExecutionResult:
        self.validate(request)
        started = time.perf_counter()
        shots = self.effective_shots(request)
        loop = asyncio.get_running_loop()
        pool = self._executor()

        isolated = isolation.enabled() and self.device_name.startswith(LOCAL_DEVICES)

        async def one(index: int) -> CircuitResult:
            if isolated:
                result = await self._run_isolated(request, index, shots)
            else:
                result = await loop.run_in_executor(pool, meter.wrap(self._run_circuit), request, index, shots)
            if request.on_circuit is not None:
                request.on_circuit(result)
            return result

        results = await asyncio.gather(*(one(i) for i in range(len(request.circuits))))
        return ExecutionResult(
            list(results),
            time.perf_counter() - started,
            metadata={
                "executor": self.name,
                "device": self.device_name,
                "shots": shots,
                "isolated": isolated,
                "ignored_options": sorted(request.options),  # a PennyLane device takes no primitive options
            },
        )

    async def _run_isolated(self, request: ExecutionRequest, index: int, shots: int | None) -> CircuitResult:
        """Circuit ``index`` in a simulator child (``isolation.run_call``), sent alone, its text when known."""

        def pick(values: list | None) -> list | None:
            return None if values is None else [values[index]]

        one = dataclasses.replace(
            request,
            circuits=[request.circuits[index]],
            observables=pick(request.observables),
            parameter_values=pick(request.parameter_values),
            sources=pick(request.sources),
            on_circuit=None,
            on_progress=None,
        )
        spec = ExecutorSpec(kind="pennylane", backend=self.device_name)
        need = job_state_bytes(spec, [request.circuits[index].num_qubits])
        config = pickle.dumps((self.device_name, self.shots, self.default_shots, self.device_kwargs))
        result = await isolation.run_call(_run_in_child, (config, isolation.portable(one), shots), need)
        return dataclasses.replace(result, index=index)

    def _executor(self) -> ThreadPoolExecutor:
        with self._pool_lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(self.max_jobs, thread_name_prefix=self.name)
            return self._pool

    def _run_circuit(self, request: ExecutionRequest, index: int, shots: int | None) -> CircuitResult:
        circuit = request.circuits[index]
        loaded = self._load(circuit, index)
        raw = request.parameter_values[index] if request.parameter_values else None
        values = parameter_values(circuit, raw, index) or []
        try:
            if request.primitive == "estimator":
                return self._estimate(
                    loaded, values, to_observables(request.observables[index], circuit.num_qubits, index), index, shots
                )
            return self._sample(loaded, values, index, shots)
        except ExecutorError:
            raise
        except Exception as exc:  # noqa: BLE001 - a device fault fails this job with its message
            raise RemoteJobFailed(f"{self.device_name}: {type(exc).__name__}: {exc}") from exc

    def _sample(self, loaded: _Loaded, values: list[float], index: int, shots: int | None) -> CircuitResult:
        def measure() -> list:
            return [qml.counts(wires=loaded.wires) if shots else qml.probs(wires=loaded.wires)]

        raw = self._execute(loaded, values, measure, shots)[0]
        if shots:
            counts: dict[str, int] = {}
            for bits, n in raw.items():
                key = self._qiskit_key(loaded, str(bits))
                counts[key] = counts.get(key, 0) + int(n)
            probabilities = {bits: n / shots for bits, n in counts.items()}
            return CircuitResult(index, shots, counts=counts, probabilities=probabilities)
        width = len(loaded.wires)
        probabilities = {}
        for outcome, p in enumerate(np.asarray(raw, dtype=float)):
            if p > 1e-14:
                key = self._qiskit_key(loaded, format(outcome, f"0{width}b"))
                probabilities[key] = probabilities.get(key, 0.0) + float(p)
        return CircuitResult(index, None, probabilities=probabilities)

    def _estimate(
        self, loaded: _Loaded, values: list[float], observables: list, index: int, shots: int | None
    ) -> CircuitResult:
        wires = list(range(loaded.num_qubits))

        def measure() -> list:
            operators = [qml.from_qiskit_op(op, wires=wires) for op in observables]
            return [qml.expval(op) for op in operators] + ([qml.var(op) for op in operators] if shots else [])

        raw = self._execute(loaded, values, measure, shots)
        evs = [float(np.real(v)) for v in raw[: len(observables)]]
        if shots:
            stds = [float(np.sqrt(max(np.real(v), 0.0) / shots)) for v in raw[len(observables) :]]
        else:
            stds = [0.0] * len(evs)
        return CircuitResult(index, shots, evs=evs, stds=stds)

    def _execute(self, loaded: _Loaded, values: list[float], measure: Callable[[], list], shots: int | None) -> Any:
        """Record the tape and run it while holding PennyLane's queue lock.

        PennyLane's queuing context is global to the process: an operator made in one thread while
        another records a tape lands in that tape, and ``default.qubit``'s sampler swaps the global
        context list (``stop_recording``) while it runs.  Concurrent runs in one process corrupted
        tapes in our tests, so PennyLane work is serialised here; ``max_jobs`` still bounds how many
        requests wait, and parallelism across devices comes from clusters of executors.
        """
        with AnnotatedQueue._lock:
            measurements = measure()

            def qfunc() -> None:
                if loaded.parameters:
                    loaded.qfunc(_bindings(loaded.parameters, values))
                else:
                    loaded.qfunc()
                for measurement in measurements:
                    qml.apply(measurement)

            tape = qml.tape.make_qscript(qfunc, shots=shots)()
            (result,) = qml.execute([tape], self._device(loaded.num_qubits))
        return (result,) if len(measurements) == 1 else result

    @staticmethod
    def _qiskit_key(loaded: _Loaded, bits: str) -> str:
        """Bits over ``loaded.wires`` (PennyLane order) as a Qiskit clbit string (clbit 0 last)."""
        by_qubit = dict(zip(loaded.wires, bits, strict=True))
        out = ["0"] * loaded.num_clbits
        for clbit, qubit in loaded.measured.items():
            out[loaded.num_clbits - 1 - clbit] = by_qubit[qubit]
        return "".join(out)

    def _load(self, circuit: QuantumCircuit, index: int) -> _Loaded:
        loaded = self._loaded.get(id(circuit))
        if loaded is None or loaded.circuit is not circuit:
            loaded = _Loaded(circuit, index)
            if len(self._loaded) >= _CACHE:
                self._loaded.clear()
            self._loaded[id(circuit)] = loaded
        return loaded

    def _device(self, num_qubits: int) -> Any:
        devices = getattr(self._local, "devices", None)
        if devices is None:
            devices = self._local.devices = {}
        if num_qubits not in devices:
            devices[num_qubits] = qml.device(self.device_name, wires=num_qubits, **self.device_kwargs)
        return devices[num_qubits]


_child_executors: dict[bytes, PennyLaneDeviceExecutor] = {}


def _run_in_child(config: bytes, request: ExecutionRequest, shots: int | None) -> CircuitResult:
    """A simulator child's side of ``_run_isolated``: the one circuit of ``request``, on an executor
    kept per device configuration (devices and converted circuits are reused across jobs)."""
    executor = _child_executors.get(config)
    if executor is None:
        device, shots_rule, default_shots, device_kwargs = pickle.loads(config)
        executor = _child_executors[config] = PennyLaneDeviceExecutor(
            device, shots=shots_rule, default_shots=default_shots, max_jobs=1, **device_kwargs
        )
    return executor._run_circuit(isolation.materialize(request), 0, shots)
