"""Test executors for qelectron and cluster tests: recording, held, flaky and failing members."""

from __future__ import annotations

import asyncio
import math
import threading

import numpy as np

from executors.base import ExecutionRequest, ExecutionResult, ExecutorError
from executors.taskjobs import TaskJobs


class Recorder(TaskJobs):
    """Delegates to ``inner`` and appends its name to ``log`` for every run it starts."""

    def __init__(self, inner, name: str, log: list[str]):
        self.inner = inner
        self.name = name
        self.log = log

    def max_qubits(self):
        return self.inner.max_qubits()

    def validate(self, request: ExecutionRequest) -> None:
        self.inner.validate(request)

    async def run(self, request: ExecutionRequest) -> ExecutionResult:
        self.log.append(self.name)
        return await self.inner.run(request)


class Held(Recorder):
    """Waits until ``release`` is set before delegating; notes whether it was cancelled."""

    def __init__(self, inner, name: str, log: list[str]):
        super().__init__(inner, name, log)
        self.release = threading.Event()
        self.cancelled = threading.Event()

    async def run(self, request: ExecutionRequest) -> ExecutionResult:
        self.log.append(self.name)
        try:
            while not self.release.is_set():
                await asyncio.sleep(0.005)
        except asyncio.CancelledError:
            self.cancelled.set()
            raise
        return await self.inner.run(request)


class Failing(Recorder):
    """Raises ``error`` on its first ``times`` runs, then delegates."""

    def __init__(self, inner, name: str, log: list[str], error: ExecutorError | Exception, times: int = 1):
        super().__init__(inner, name, log)
        self.error = error
        self.times = times

    async def run(self, request: ExecutionRequest) -> ExecutionResult:
        self.log.append(self.name)
        if self.times > 0:
            self.times -= 1
            raise self.error
        return await self.inner.run(request)


def assert_probs_close(estimate, exact, shots: int, sigmas: float = 5.0) -> None:
    """Every entry within ``sigmas`` binomial standard deviations (plus one count) of exact."""
    estimate, exact = np.asarray(estimate, float), np.asarray(exact, float)
    assert estimate.shape == exact.shape
    bound = sigmas * np.sqrt(exact * (1 - exact) / shots) + 1.0 / shots
    assert np.all(np.abs(estimate - exact) <= bound), (estimate, exact, bound)


def assert_expval_close(estimate, exact, shots: int, sigmas: float = 5.0) -> None:
    """A Pauli expectation within ``sigmas`` standard errors of exact."""
    bound = sigmas * math.sqrt(max(1 - float(exact) ** 2, 1e-12) / shots) + 2.0 / shots
    assert abs(float(estimate) - float(exact)) <= bound, (estimate, exact, bound)
