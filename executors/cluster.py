"""Quantum clusters: one executor made of member executors, a selector and failover.

Selectors: ``"cyclic"`` (members in order, one request each), ``"random"``, ``"least_busy"``
(the shortest queue: the backend's own ``pending_jobs``, for members that report one through
``queue_length()`` (IBM cloud and fake backends), plus the requests this cluster has in flight
there; ties go round-robin) or a callable ``(members, request) -> member``.
A member that fails with :class:`TransientError` or a connection-type fault hands the request to
the next member; each hand-over is recorded in ``result.metadata["failover"]``.  Requests that can
never succeed (:class:`InvalidRequest`), jobs the backend ran and failed (:class:`RemoteJobFailed`),
refused credentials and cancellations are not retried.
"""

from __future__ import annotations

import asyncio
import random
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from executors.base import (
    ExecutionRequest,
    ExecutionResult,
    Executor,
    ExecutorSpec,
    InvalidRequest,
    TransientError,
)
from executors.taskjobs import TaskJobs

Selector = Callable[[Sequence[Executor], ExecutionRequest], Executor]
SELECTORS = ("cyclic", "random", "least_busy")
_RETRYABLE = (TransientError, ConnectionError, TimeoutError)
QUEUE_TTL = 30.0  # seconds a member's reported queue length is reused


class ClusterExecutor(TaskJobs):
    """An :class:`~executors.base.Executor` over ``members`` (executors or specs, or a cluster spec).

    :meth:`select` picks a member at once, in the caller's thread, so call order is preserved even
    when the runs themselves overlap; :meth:`run_on` runs a request on a picked member with
    failover.  ``result.metadata`` gains ``executor`` (the member that answered), ``executor_index``
    and ``failover`` (a list of ``{"executor", "index", "error", "type"}`` events, maybe empty).
    """

    def __init__(
        self,
        members: Sequence[Executor | ExecutorSpec] | ExecutorSpec,
        selector: str | Selector = "cyclic",
        *,
        name: str = "cluster",
        seed: int | None = None,
        build: Callable[[ExecutorSpec], Executor] | None = None,
    ):
        """``build`` turns a member's spec into its executor (``executors.registry.build_executor``,
        which passes itself); needed only when ``members`` holds specs."""
        if isinstance(members, ExecutorSpec):
            if members.kind != "cluster":
                raise InvalidRequest(f"expected a cluster spec, got kind {members.kind!r}")
            selector = members.selector or selector
            members = members.members
        self.members: list[Executor] = [_build(member, build) for member in members]
        if not self.members:
            raise InvalidRequest("a cluster needs at least one member")
        if not callable(selector) and selector not in SELECTORS:
            raise InvalidRequest(f"unknown selector {selector!r}; use one of {', '.join(SELECTORS)} or a callable")
        self.selector = selector
        self.name = name
        self._lock = threading.Lock()
        self._next = 0
        self._random = random.Random(seed)
        self._in_flight = [0] * len(self.members)
        self._queues: list[tuple[float, int]] = [(-QUEUE_TTL, 0)] * len(self.members)  # (read at, length)

    def in_flight(self) -> list[int]:
        """Requests currently selected for, or running on, each member."""
        with self._lock:
            return list(self._in_flight)

    def max_qubits(self) -> int | None:
        sizes = [size for size in (m.max_qubits() for m in self.members) if size is not None]
        return min(sizes) if sizes else None

    def validate(self, request: ExecutionRequest) -> None:
        """Every member must accept the request, since failover may send it to any of them."""
        for member in self.members:
            member.validate(request)

    def queue_lengths(self) -> list[int]:
        """Each member's queue as its backend reports it (``queue_length()``, e.g. IBM's
        ``pending_jobs``; 0 for members without one), read at most every ``QUEUE_TTL`` seconds.
        Blocking for a cloud member: :meth:`run` calls it in a thread."""
        now = time.monotonic()
        lengths = []
        for index, member in enumerate(self.members):
            read_at, length = self._queues[index]
            report = getattr(member, "queue_length", None)
            if report is not None and now - read_at >= QUEUE_TTL:
                try:
                    length = int(report() or 0)
                except Exception:  # noqa: BLE001 - an unknown queue counts as empty; failover covers the rest
                    length = 0
                self._queues[index] = (now, length)
            lengths.append(length)
        return lengths

    def select(self, request: ExecutionRequest, queues: list[int] | None = None) -> Ticket:
        """Pick the member that runs ``request``; it counts as in flight until released.
        ``least_busy`` reads ``queues`` (from :meth:`queue_lengths`, which it calls when not given)."""
        if self.selector == "least_busy" and queues is None:
            queues = self.queue_lengths()
        with self._lock:
            index = self._pick(request, queues)
            self._in_flight[index] += 1
        return Ticket(index)

    def release(self, ticket: Ticket) -> None:
        """Stop counting ``ticket`` as in flight (idempotent; :meth:`run_on` does it too)."""
        with self._lock:
            if not ticket.released:
                ticket.released = True
                self._in_flight[ticket.index] -= 1

    def _pick(self, request: ExecutionRequest, queues: list[int] | None = None) -> int:
        count = len(self.members)
        if self.selector == "cyclic":
            index, self._next = self._next, (self._next + 1) % count
            return index
        if self.selector == "random":
            return self._random.randrange(count)
        if self.selector == "least_busy":
            start = self._next
            waiting = queues or [0] * count
            index = min(range(count), key=lambda i: (waiting[i] + self._in_flight[i], (i - start) % count))
            self._next = (index + 1) % count
            return index
        chosen = self.selector(self.members, request)
        for index, member in enumerate(self.members):
            if member is chosen:
                return index
        raise InvalidRequest("the cluster's selector returned an executor that is not a member")

    def try_sync(self, ticket: Ticket, request: ExecutionRequest) -> ExecutionResult | None:
        """Run on the ticket's member in this thread if it offers ``run_sync`` (no event loop).

        Returns None when it does not, or when it failed over (the failure is recorded on the
        ticket, which now names the next member: finish with :meth:`run_on`).
        """
        member = self.members[ticket.index]
        run_sync = getattr(member, "run_sync", None)
        if run_sync is None:
            return None
        try:
            result = run_sync(request)
        except _RETRYABLE as exc:
            ticket.events.append(_event(member, ticket.index, exc))
            if len(ticket.events) == len(self.members):
                self.release(ticket)
                raise TransientError(f"all members of {self.name} failed; last: {exc}") from exc
            self._move(ticket)
            return None
        except BaseException:
            self.release(ticket)
            raise
        self.release(ticket)
        result.metadata.update(executor=member.name, executor_index=ticket.index, failover=ticket.events)
        return result

    async def run_on(self, ticket: Ticket, request: ExecutionRequest) -> ExecutionResult:
        """Run on the member ``ticket`` names (from :meth:`select`), failing over to the next."""
        events = ticket.events
        count = len(self.members)
        try:
            while True:
                member = self.members[ticket.index]
                try:
                    result = await member.run(request)
                except _RETRYABLE as exc:
                    events.append(_event(member, ticket.index, exc))
                    if len(events) == count:
                        raise TransientError(f"all members of {self.name} failed; last: {exc}") from exc
                    self._move(ticket)
                    continue
                result.metadata.update(executor=member.name, executor_index=ticket.index, failover=events)
                return result
        finally:
            self.release(ticket)

    def _move(self, ticket: Ticket) -> None:
        with self._lock:
            if not ticket.released:
                self._in_flight[ticket.index] -= 1
                self._in_flight[(ticket.index + 1) % len(self.members)] += 1
            ticket.index = (ticket.index + 1) % len(self.members)

    async def run(self, request: ExecutionRequest) -> ExecutionResult:
        queues = await asyncio.to_thread(self.queue_lengths) if self.selector == "least_busy" else None
        return await self.run_on(self.select(request, queues), request)


QCluster = ClusterExecutor


@dataclass
class Ticket:
    """A member chosen by :meth:`ClusterExecutor.select` (``index`` moves on failover)."""

    index: int
    released: bool = False
    events: list[dict[str, Any]] = field(default_factory=list)


def _build(member: Executor | ExecutorSpec, build: Callable[[ExecutorSpec], Executor] | None) -> Executor:
    if isinstance(member, ExecutorSpec):
        if build is None:
            raise InvalidRequest("a cluster of specs needs build= (executors.registry.build_executor)")
        return build(member)
    return member


def _event(member: Executor, index: int, exc: BaseException) -> dict[str, Any]:
    return {
        "executor": member.name,
        "index": index,
        "error": str(exc) or type(exc).__name__,
        "type": type(exc).__name__,
        "time": time.time(),
    }
