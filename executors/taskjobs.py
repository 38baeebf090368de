"""Job helpers for executors whose job is one asyncio task on the caller's loop (cluster,
PennyLane, qelectron, in-process simulators)."""

from __future__ import annotations

import asyncio
from typing import Any

from executors.base import ExecutionRequest, ExecutionResult, JobCancelled, JobHandle, RemoteState


async def await_job_task(task: asyncio.Task) -> Any:
    """Await an executor's job task; its cancellation becomes :class:`JobCancelled`, while the
    cancellation of the awaiting task itself propagates as usual."""
    try:
        return await task
    except asyncio.CancelledError:
        current = asyncio.current_task()
        if current is not None and current.cancelling():
            raise
        raise JobCancelled("the job was cancelled") from None


class TaskJobs:
    """``submit``/``status``/``result``/``cancel`` for executors whose job is one asyncio task
    running ``self.run(request)`` on the caller's loop."""

    name: str

    async def submit(self, request: ExecutionRequest) -> JobHandle:
        self.validate(request)
        task = asyncio.create_task(self.run(request), name=f"{self.name}-job")  # type: ignore[attr-defined]
        return JobHandle(executor=self.name, state=task)

    async def status(self, handle: JobHandle) -> RemoteState:
        task = task_of(handle)
        if not task.done():
            return RemoteState.RUNNING
        if task.cancelled() or isinstance(task.exception(), JobCancelled):
            return RemoteState.CANCELLED
        return RemoteState.FAILED if task.exception() is not None else RemoteState.DONE

    async def result(self, handle: JobHandle) -> ExecutionResult:
        return await await_job_task(task_of(handle))

    async def cancel(self, handle: JobHandle) -> None:
        task_of(handle).cancel()


def task_of(handle: JobHandle) -> asyncio.Task:
    if not isinstance(handle.state, asyncio.Task):
        raise ValueError("this handle was not created by a task-backed executor in this process")
    return handle.state
