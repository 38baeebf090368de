"""qportal's executor core: run quantum circuits from plain asyncio code, no Django needed.

    from executors import ExecutionRequest, ExecutorSpec, build_executor, parse_circuit

    circuit = parse_circuit({"qasm": open("bell.qasm").read()})
    executor = build_executor(ExecutorSpec(kind="fake", backend="fake_manila"))
    result = await executor.run(ExecutionRequest(circuits=[circuit], shots=4000))
    result.circuits[0].counts

Kinds: ``local`` (ideal Aer), ``fake`` (qiskit-ibm-runtime fake backends, noisy, offline),
``ibm_cloud``, ``pennylane`` and ``cluster``.  Every failure is an :class:`ExecutorError`
subclass whose message is written for a person.
"""

from executors.base import (
    MAX_CIRCUITS,
    MAX_SHOTS,
    AuthenticationError,
    CircuitResult,
    ExecutionMode,
    ExecutionRequest,
    ExecutionResult,
    Executor,
    ExecutorError,
    ExecutorKind,
    ExecutorSpec,
    IBMCredential,
    InlineExecutor,
    InvalidRequest,
    JobCancelled,
    JobHandle,
    Primitive,
    RemoteExecutor,
    RemoteJobFailed,
    RemoteState,
    TransientError,
)
from executors.circuits import circuit_diagram, circuit_to_qasm, parse_circuit, validate_request
from executors.registry import backend_max_qubits, build_executor

__all__ = [
    "MAX_CIRCUITS",
    "MAX_SHOTS",
    "AuthenticationError",
    "CircuitResult",
    "ExecutionMode",
    "ExecutionRequest",
    "ExecutionResult",
    "Executor",
    "ExecutorError",
    "ExecutorKind",
    "ExecutorSpec",
    "IBMCredential",
    "InlineExecutor",
    "InvalidRequest",
    "JobCancelled",
    "JobHandle",
    "Primitive",
    "RemoteExecutor",
    "RemoteJobFailed",
    "RemoteState",
    "TransientError",
    "backend_max_qubits",
    "build_executor",
    "circuit_diagram",
    "circuit_to_qasm",
    "parse_circuit",
    "validate_request",
]
