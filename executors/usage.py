"""What a job used: QPU seconds IBM reports, or a simulation's wall and CPU seconds.

``ExecutionResult.usage`` is a dict with whichever of these apply:

- ``qpu_seconds``: quantum seconds IBM charged (``RuntimeJobV2.usage()``, summed over the job's
  remote jobs), ``ibm_estimated_qpu_seconds``: IBM's own estimate (``usage_estimation``);
- ``wall_seconds``: the simulation's elapsed time; ``cpu_seconds``: CPU time of the threads and
  child processes that simulated (``time.thread_time`` in a thread, ``time.process_time`` of a
  simulator child: the child runs one call at a time, so all its CPU is the call's).

A simulation is metered with :func:`metering`, which makes a :class:`CpuMeter` current for the
task (and the tasks and ``asyncio.to_thread`` calls it starts); :func:`metered` wraps a blocking
function so the CPU its thread spends is added to the meter current where it runs.
"""

from __future__ import annotations

import contextvars
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

T = TypeVar("T")


class CpuMeter:
    """CPU seconds spent on one job, added from any thread."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self.started = time.perf_counter()
        self._lock = threading.Lock()

    def add(self, seconds: float) -> None:
        with self._lock:
            self.seconds += max(0.0, seconds)

    def wrap(self, function: Callable[..., T]) -> Callable[..., T]:
        """``function`` whose thread CPU time is added to this meter (for executors that do not
        copy the context, such as ``loop.run_in_executor``)."""

        def run(*args: Any, **kwargs: Any) -> T:
            start = time.thread_time()
            try:
                return function(*args, **kwargs)
            finally:
                self.add(time.thread_time() - start)

        return run

    def usage(self) -> dict[str, float]:
        """``wall_seconds`` since the meter started and the ``cpu_seconds`` added to it."""
        return {"wall_seconds": round(time.perf_counter() - self.started, 6), "cpu_seconds": round(self.seconds, 6)}


_current: contextvars.ContextVar[CpuMeter | None] = contextvars.ContextVar("qportal_cpu_meter", default=None)


@contextmanager
def metering() -> Iterator[CpuMeter]:
    """A fresh meter, current for the code inside (and the tasks and threads it starts)."""
    meter = CpuMeter()
    token = _current.set(meter)
    try:
        yield meter
    finally:
        _current.reset(token)


def add_cpu(seconds: float) -> None:
    """Add CPU seconds to the current meter (nothing when none is current)."""
    meter = _current.get()
    if meter is not None:
        meter.add(seconds)


def metered(function: Callable[..., T]) -> Callable[..., T]:
    """``function`` whose thread CPU time goes to the meter current in the thread that runs it
    (``asyncio.to_thread`` copies the caller's context, so that is the caller's meter)."""

    def run(*args: Any, **kwargs: Any) -> T:
        start = time.thread_time()
        try:
            return function(*args, **kwargs)
        finally:
            add_cpu(time.thread_time() - start)

    return run


@dataclass
class ChildOutcome:
    """A simulator child's answer with the CPU seconds the call took there."""

    value: Any
    cpu_seconds: float


def ibm_estimate(jobs: list[Any]) -> dict[str, float]:
    """IBM's own estimate of ``jobs``' quantum seconds (``usage_estimation``; blocking: one job
    lookup each, which the job object then keeps), or nothing when IBM gave none."""
    estimated = None
    for job in jobs:
        guess = (job.usage_estimation or {}).get("quantum_seconds")
        if guess is not None:
            estimated = (estimated or 0.0) + float(guess)
    return {} if estimated is None else {"ibm_estimated_qpu_seconds": estimated}


def ibm_usage(jobs: list[Any]) -> dict[str, float]:
    """QPU seconds IBM reports for ``jobs`` (``RuntimeJobV2``; blocking: one ``metrics`` call
    each), with IBM's own estimate when it gave one (:func:`ibm_estimate`)."""
    usage: dict[str, float] = {"qpu_seconds": 0.0}
    for job in jobs:
        metrics = job.metrics() or {}
        seconds = (metrics.get("usage") or {}).get("quantum_seconds")
        usage["qpu_seconds"] += float(seconds or 0)
    return {**usage, **ibm_estimate(jobs)}
