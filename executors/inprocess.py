"""Job machinery shared by executors that simulate inside this process (Aer, fake IBM backends).

A job is an ``asyncio.Task`` on the caller's loop; the blocking simulator calls run in worker
threads.  Cancelling stops the task at once (``result()`` raises :class:`JobCancelled`) and stops
a per-circuit job before its next circuit; a simulation already running in a thread finishes
there and its result is dropped.
"""

from __future__ import annotations

import asyncio
import dataclasses
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from executors import isolation, usage
from executors.base import (
    ExecutionRequest,
    ExecutionResult,
    ExecutorError,
    ExecutorSpec,
    JobCancelled,
    JobHandle,
    RemoteJobFailed,
    RemoteState,
)
from executors.circuits import validate_request
from executors.taskjobs import await_job_task


@dataclass
class LocalJob:
    """Executor-private state behind a :class:`JobHandle`."""

    task: asyncio.Task[ExecutionResult] | None = None
    stop: threading.Event = field(default_factory=threading.Event)
    started: bool = False


class InProcessExecutor:
    """Base of executors whose ``_prepare`` and ``_execute`` block and run in threads.

    Subclasses set ``name`` and implement :meth:`max_qubits`, :meth:`_prepare` (transpile etc.,
    returns anything), :meth:`_execute` (runs the circuits ``indices``, returns their
    :class:`CircuitResult` list) and optionally :meth:`_finish`, :meth:`_metadata` and
    :meth:`runs_inline` (which jobs are tiny enough to skip the event loop and isolation).
    """

    name = "in-process"

    def __init__(self, spec: ExecutorSpec):
        self.spec = spec

    @property
    def single_job(self) -> bool:
        return self.spec.single_job

    def max_qubits(self) -> int | None:
        raise NotImplementedError

    def default_shots(self) -> int:
        """Shots used when the request gives none: ``options["default_shots"]``, else ``spec.shots``."""
        return int(self.spec.options.get("default_shots") or self.spec.shots)

    def validate(self, request: ExecutionRequest) -> None:
        validate_request(request, self.max_qubits(), self.name)

    def _prepare(self, request: ExecutionRequest) -> Any:
        raise NotImplementedError

    def _execute(self, request: ExecutionRequest, prepared: Any, indices: list[int], shots: int) -> list:
        raise NotImplementedError

    def _finish(self, prepared: Any) -> None:
        """Release what ``_prepare`` opened (a session...); runs even when the job fails."""

    def _metadata(self, request: ExecutionRequest, prepared: Any) -> dict[str, Any]:
        return {}

    async def submit(self, request: ExecutionRequest) -> JobHandle:
        self.validate(request)
        job = LocalJob()
        job.task = asyncio.create_task(self._run_job(request, job), name=f"{self.name}-job")
        return JobHandle(executor=self.name, state=job)

    async def status(self, handle: JobHandle) -> RemoteState:
        job = _job(handle)
        if not job.task.done():
            return RemoteState.RUNNING if job.started else RemoteState.QUEUED
        if job.task.cancelled():
            return RemoteState.CANCELLED
        if job.task.exception() is not None:
            return RemoteState.CANCELLED if isinstance(job.task.exception(), JobCancelled) else RemoteState.FAILED
        return RemoteState.DONE

    async def result(self, handle: JobHandle) -> ExecutionResult:
        return await await_job_task(_job(handle).task)

    async def cancel(self, handle: JobHandle) -> None:
        job = _job(handle)
        job.stop.set()
        job.task.cancel()

    async def run(self, request: ExecutionRequest) -> ExecutionResult:
        return await self.result(await self.submit(request))

    def runs_inline(self, request: ExecutionRequest, shots: int) -> bool:
        """True for a job small enough to run in the caller's thread even with isolation on; none is,
        unless a subclass knows better (:class:`~executors.local.LocalSimulatorExecutor` does)."""
        return False

    def run_inline(self, request: ExecutionRequest) -> ExecutionResult | None:
        """Run the job now, in the calling thread, if it is one batch and :meth:`runs_inline` declares
        it tiny (a few milliseconds of simulation); None (and nothing run) otherwise.

        For a caller already in a worker thread (the job manager's database thread): it skips the
        event loop round trips of ``submit``/``result``, which cost as much as such a simulation.
        Callbacks are not called; the caller stores the whole result.
        """
        shots = request.shots or self.default_shots()
        if not self._one_batch(request) or not self.runs_inline(request, shots):
            return None
        self.validate(request)
        started, cpu = time.perf_counter(), time.thread_time()
        quiet = dataclasses.replace(request, on_circuit=None, on_progress=None)
        with _simulator_faults():
            results, details = self._prepare_and_execute(quiet, shots)
        metadata = {"executor": self.name, "single_job": self.single_job, **details}
        elapsed = time.perf_counter() - started
        used = {"wall_seconds": round(elapsed, 6), "cpu_seconds": round(time.thread_time() - cpu, 6)}
        return ExecutionResult(circuits=results, execution_time=elapsed, metadata=metadata, usage=used)

    async def _run_job(self, request: ExecutionRequest, job: LocalJob) -> ExecutionResult:
        with usage.metering() as meter:  # CPU of the threads and children that simulate it
            result = await self._run_metered(request, job)
        result.usage = meter.usage()
        return result

    async def _run_metered(self, request: ExecutionRequest, job: LocalJob) -> ExecutionResult:
        started = time.perf_counter()
        job.started = True
        shots = request.shots or self.default_shots()
        if isolation.enabled() and not self.runs_inline(request, shots):
            # Prepare and execute in a child process (see executors.isolation); callbacks stay here.
            _progress(request, "executing")
            portable = dataclasses.replace(request, on_circuit=None, on_progress=None)
            job_key = uuid.uuid4().hex
            # One batch of several circuits runs in chunks, each reported as it finishes.
            reports = request.on_circuit is not None and self._one_batch(request)
            on_chunk = (lambda chunk: _report(request, chunk)) if reports else None
            results = await self._run_batches(
                request,
                job,
                shots,
                lambda batch: self._isolated(
                    isolation.run_batch(type(self), self.spec, job_key, portable, batch, shots, on_chunk)
                ),
                report=on_chunk is None,
            )
            metadata = {"executor": self.name, "single_job": self.single_job, "isolated": True}
        else:
            if not isolation.enabled():  # a tiny job run beside isolation skips the step: one event less
                _progress(request, "transpiling")
            if self._one_batch(request):
                if job.stop.is_set():
                    raise JobCancelled("the job was cancelled")
                results, details = await self._in_thread(self._prepare_and_execute, request, shots)
                _report(request, results)
            else:
                prepared = await self._in_thread(self._prepare, request)
                try:
                    _progress(request, "executing")
                    results = await self._run_batches(
                        request,
                        job,
                        shots,
                        lambda batch: self._in_thread(self._execute, request, prepared, batch, shots),
                    )
                finally:
                    self._finish(prepared)
                details = self._metadata(request, prepared)
            metadata = {"executor": self.name, "single_job": self.single_job, **details}
        return ExecutionResult(circuits=results, execution_time=time.perf_counter() - started, metadata=metadata)

    def _one_batch(self, request: ExecutionRequest) -> bool:
        """All the job's circuits go in one simulator call."""
        return self.single_job or len(request.circuits) == 1

    def _prepare_and_execute(self, request: ExecutionRequest, shots: int) -> tuple[list, dict[str, Any]]:
        """Every circuit as one batch, prepared and executed in the calling thread: one hop from the
        event loop instead of two (a Bell circuit's whole simulation is about two hops' worth)."""
        prepared = self._prepare(request)
        try:
            _progress(request, "executing")
            results = self._execute(request, prepared, list(range(len(request.circuits))), shots)
            return results, self._metadata(request, prepared)
        finally:
            self._finish(prepared)

    async def _run_batches(
        self, request: ExecutionRequest, job: LocalJob, shots: int, run_batch: Any, report: bool = True
    ) -> list:
        """Each batch through ``run_batch``, reported when it is back (unless ``run_batch`` reports)."""
        indices = list(range(len(request.circuits)))
        batches = [indices] if self.single_job else [[index] for index in indices]
        results = []
        for batch in batches:
            if job.stop.is_set():
                raise JobCancelled("the job was cancelled")
            batch_results = await run_batch(batch)
            if report:
                _report(request, batch_results)
            results.extend(batch_results)
        return results

    @classmethod
    async def _in_thread(cls, function: Any, *args: Any) -> Any:
        """Run a blocking simulator call in a thread; its failures become :class:`RemoteJobFailed`."""
        return await cls._isolated(asyncio.to_thread(usage.metered(function), *args))

    @staticmethod
    async def _isolated(call: Any) -> Any:
        with _simulator_faults():
            return await call


def _job(handle: JobHandle) -> LocalJob:
    if not isinstance(handle.state, LocalJob) or handle.state.task is None:
        raise ValueError("this handle was not created by an in-process executor in this process")
    return handle.state


@contextmanager
def _simulator_faults() -> Iterator[None]:
    """Any simulator fault is this job's failure (:class:`RemoteJobFailed`); executor errors pass."""
    try:
        yield
    except ExecutorError:
        raise
    except Exception as exc:  # noqa: BLE001 - any simulator fault is this job's failure
        raise RemoteJobFailed(f"{type(exc).__name__}: {exc}") from exc


def _report(request: ExecutionRequest, results: list) -> None:
    if request.on_circuit is not None:
        for circuit_result in results:
            request.on_circuit(circuit_result)


def _progress(request: ExecutionRequest, text: str) -> None:
    if request.on_progress is not None:
        request.on_progress(text)
