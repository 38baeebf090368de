"""Build an executor from an :class:`ExecutorSpec` (a profile), cheaply and without network."""

from __future__ import annotations

from executors.base import Executor, ExecutorSpec, InvalidRequest


def build_executor(spec: ExecutorSpec) -> Executor:
    """The executor for ``spec.kind``; kinds with heavy or optional dependencies import lazily."""
    if spec.kind == "local":
        from executors.local import LocalSimulatorExecutor

        return LocalSimulatorExecutor(spec)
    if spec.kind == "fake":
        from executors.runtime import RuntimeExecutor

        return RuntimeExecutor(spec)
    if spec.kind == "ibm_cloud":
        from executors.ibm_cloud import IBMCloudExecutor

        return IBMCloudExecutor(spec)
    if spec.kind == "pennylane":
        from executors.pennylane import PennyLaneDeviceExecutor

        return PennyLaneDeviceExecutor(spec)
    if spec.kind == "cluster":
        from executors.cluster import ClusterExecutor

        return ClusterExecutor(spec)
    raise InvalidRequest(f"unknown executor kind {spec.kind!r}")


def backend_max_qubits(spec: ExecutorSpec) -> int | None:
    """Qubits available to ``spec`` without network access; None when unknown or unbounded.

    Local and fake backends answer exactly (fake backends are cached after the first build).
    Other kinds answer None here; their executors check again when a job is submitted.
    """
    if spec.kind == "local":
        from executors.local import LocalSimulatorExecutor

        return LocalSimulatorExecutor(spec).max_qubits()
    if spec.kind == "fake":
        from executors.runtime import fake_backend_qubits

        return fake_backend_qubits(spec.backend)
    return None
