"""Build an executor from an :class:`ExecutorSpec` (a profile), cheaply and without network.

One table from kind to executor class; each class is imported on first use, since some pull in
heavy or optional dependencies (Aer, PennyLane, the IBM client).
"""

from __future__ import annotations

from collections.abc import Callable

from executors.base import Executor, ExecutorSpec, InvalidRequest


def _local() -> type:
    from executors.local import LocalSimulatorExecutor

    return LocalSimulatorExecutor


def _fake() -> type:
    from executors.fake_backend import FakeBackendExecutor

    return FakeBackendExecutor


def _ibm_cloud() -> type:
    from executors.ibm_cloud import IBMCloudExecutor

    return IBMCloudExecutor


def _pennylane() -> type:
    from executors.pennylane import PennyLaneDeviceExecutor

    return PennyLaneDeviceExecutor


def _cluster() -> type:
    from executors.cluster import ClusterExecutor

    return ClusterExecutor


EXECUTORS: dict[str, Callable[[], type]] = {
    "local": _local,
    "fake": _fake,
    "ibm_cloud": _ibm_cloud,
    "pennylane": _pennylane,
    "cluster": _cluster,
}


def executor_class(kind: str) -> type:
    loader = EXECUTORS.get(kind)
    if loader is None:
        raise InvalidRequest(f"unknown executor kind {kind!r}")
    return loader()


def build_executor(spec: ExecutorSpec) -> Executor:
    """The executor for ``spec.kind``; a cluster builds its members through this same function."""
    if spec.backend == "auto" and spec.kind in ("fake", "ibm_cloud"):
        from executors.auto import AutoCloudExecutor, AutoFakeExecutor

        return AutoFakeExecutor(spec) if spec.kind == "fake" else AutoCloudExecutor(spec)
    cls = executor_class(spec.kind)
    return cls(spec, build=build_executor) if spec.kind == "cluster" else cls(spec)


def simulator_classes() -> tuple[type, ...]:
    """The executors whose simulations run in child processes (what ``isolation.enable`` warms)."""
    return (_local(), _fake())


def backend_max_qubits(spec: ExecutorSpec) -> int | None:
    """Qubits available to ``spec`` without network access; None when unknown or unbounded.

    Local and fake backends answer exactly (fake backends are cached after the first build).
    Other kinds answer None here; their executors check again when a job is submitted.
    """
    if spec.kind == "local":
        return _local()(spec).max_qubits()
    if spec.kind == "fake" and spec.backend == "auto":
        from executors.backend_choice import auto_max_qubits

        return auto_max_qubits(spec.options)
    if spec.kind == "fake":
        from executors.fake_backend import fake_backend_qubits

        return fake_backend_qubits(spec.backend)
    return None
