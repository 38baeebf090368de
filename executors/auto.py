"""A fake or ``ibm_cloud`` profile whose backend is ``"auto"``: each job runs on the backend
:func:`executors.backend_choice.choose_backend` picks for its circuits.

Options: ``auto_criterion`` (``"least_busy"``, the default, or ``"least_noisy"``),
``auto_backends`` (the candidates; default: every fake backend with enough qubits, or for
``least_noisy`` the smallest few, see :func:`executors.backend_choice.fake_candidates`), and the
fake backends' own (``optimization_level`` and ``seed`` also drive the transpilation the
``least_noisy`` estimate is made on).  The handle and the result carry the choice and its reason.
"""

from __future__ import annotations

import asyncio
import dataclasses
from dataclasses import dataclass
from typing import Any

from executors.backend_choice import Choice, auto_max_qubits, choose_backend, criterion_of, fake_candidates
from executors.base import ExecutionRequest, ExecutionResult, ExecutorSpec, JobHandle, RemoteState
from executors.circuits import validate_request
from executors.fake_backend import FakeBackendExecutor, fake_backend
from executors.runtime import DEFAULT_OPTIMIZATION_LEVEL, transpile_to_isa

__all__ = ["AutoCloudExecutor", "AutoFakeExecutor"]


@dataclass
class _Chosen:
    executor: FakeBackendExecutor
    handle: JobHandle
    choice: Choice


class AutoFakeExecutor:
    """Chooses a fake backend per job, then runs it there (a :class:`FakeBackendExecutor`)."""

    def __init__(self, spec: ExecutorSpec):
        self.spec = spec
        self.name = "auto"
        self.criterion = criterion_of(spec.options)
        self._members: dict[str, FakeBackendExecutor] = {}

    def max_qubits(self) -> int | None:
        return auto_max_qubits(self.spec.options)

    def validate(self, request: ExecutionRequest) -> None:
        validate_request(request, self.max_qubits(), "the auto backend's candidates")

    def choose(self, request: ExecutionRequest) -> Choice:
        """The backend for ``request``'s circuits, and why (blocking: transpiles for least_noisy)."""
        needed = max((c.num_qubits for c in request.circuits), default=0)
        backends = [fake_backend(name) for name in fake_candidates(self.spec.options, needed)]
        level = self.spec.options.get("optimization_level")
        level = DEFAULT_OPTIMIZATION_LEVEL if level is None else int(level)
        seed = self.spec.options.get("seed")

        def transpile(circuits, backend):
            return transpile_to_isa(circuits, backend, level, seed)

        return choose_backend(backends, request.circuits, self.criterion, transpile=transpile)

    def member(self, backend: str) -> FakeBackendExecutor:
        if backend not in self._members:
            self._members[backend] = FakeBackendExecutor(dataclasses.replace(self.spec, backend=backend))
        return self._members[backend]

    async def submit(self, request: ExecutionRequest) -> JobHandle:
        self.validate(request)
        choice = await asyncio.to_thread(self.choose, request)
        executor = self.member(choice.backend)
        inner = await executor.submit(request)
        return JobHandle(
            executor=self.name,
            remote_ids=list(inner.remote_ids),
            state=_Chosen(executor, inner, choice),
            calibration=inner.calibration,
            choice=choice.as_dict(),
        )

    async def status(self, handle: JobHandle) -> RemoteState:
        chosen: _Chosen = handle.state
        return await chosen.executor.status(chosen.handle)

    async def result(self, handle: JobHandle) -> ExecutionResult:
        chosen: _Chosen = handle.state
        result = await chosen.executor.result(chosen.handle)
        result.metadata.update(backend=chosen.choice.backend, backend_choice=chosen.choice.reason)
        return result

    async def cancel(self, handle: JobHandle) -> None:
        chosen: _Chosen = handle.state
        await chosen.executor.cancel(chosen.handle)

    async def run(self, request: ExecutionRequest) -> ExecutionResult:
        return await self.result(await self.submit(request))


class AutoCloudExecutor:
    """An ``ibm_cloud`` profile whose backend is ``"auto"``: each job goes to the backend of the
    credential's instance that :func:`choose_backend` picks (``auto_backends`` narrows the
    candidates), through an :class:`~executors.ibm_cloud.IBMCloudExecutor` for that backend.
    Jobs submitted earlier are reattached and found by tag without a backend (IBM knows theirs)."""

    def __init__(self, spec: ExecutorSpec, **options: Any):
        from executors.ibm_cloud import IBMCloudExecutor

        self.spec = spec
        self.name = "ibm_cloud"
        self.criterion = criterion_of(spec.options)
        self._options = options
        self._plain = IBMCloudExecutor(dataclasses.replace(spec, backend=""), **options)
        self._members: dict[str, Any] = {}
        self._ran_on: dict[int, Any] = {}

    def max_qubits(self) -> int | None:
        return None

    def validate(self, request: ExecutionRequest) -> None:
        validate_request(request, None, "the auto backend's candidates")

    def choose(self, request: ExecutionRequest) -> Choice:
        """Blocking: lists the instance's operational backends and ranks them."""
        from executors.ibm_cloud import get_service

        listed = set(self.spec.options.get("auto_backends") or ())
        backends = [
            b for b in get_service(self.spec.credential).backends(operational=True) if not listed or b.name in listed
        ]
        level = self.spec.options.get("optimization_level")
        level = DEFAULT_OPTIMIZATION_LEVEL if level is None else int(level)
        seed = self.spec.options.get("seed")

        def transpile(circuits, backend):
            return transpile_to_isa(circuits, backend, level, seed)

        return choose_backend(backends, request.circuits, self.criterion, transpile=transpile)

    def member(self, backend: str) -> Any:
        from executors.ibm_cloud import IBMCloudExecutor

        if backend not in self._members:
            self._members[backend] = IBMCloudExecutor(dataclasses.replace(self.spec, backend=backend), **self._options)
        return self._members[backend]

    def _for(self, handle: JobHandle) -> Any:
        return self._ran_on.get(id(handle.state), self._plain)

    async def current_backend(self) -> Any:
        """None: the backend is chosen per job, at submission."""
        return None

    async def submit(self, request: ExecutionRequest) -> JobHandle:
        self.validate(request)
        choice = await self._plain._call(self.choose, request)  # retried and classified like any IBM call
        executor = self.member(choice.backend)
        handle = await executor.submit(request)
        handle.choice = choice.as_dict()
        self._ran_on[id(handle.state)] = executor
        return handle

    async def status(self, handle: JobHandle) -> RemoteState:
        return await self._for(handle).status(handle)

    async def result(self, handle: JobHandle) -> ExecutionResult:
        try:
            return await self._for(handle).result(handle)
        finally:
            self._ran_on.pop(id(handle.state), None)

    async def cancel(self, handle: JobHandle) -> None:
        await self._for(handle).cancel(handle)

    async def run(self, request: ExecutionRequest) -> ExecutionResult:
        return await self.result(await self.submit(request))

    async def reattach(self, remote_ids: list[str], request: ExecutionRequest | None = None) -> JobHandle:
        return await self._plain.reattach(remote_ids, request)

    async def find_by_tag(self, submit_key: str, request: ExecutionRequest | None = None) -> JobHandle | None:
        return await self._plain.find_by_tag(submit_key, request)
