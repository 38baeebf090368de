"""QElectrons: PennyLane QNodes that run on a cluster of executors.

>>> @qelectron(executors=[AerSamplerExecutor(), LocalSimulatorExecutor()])
... @qml.set_shots(1024)
... @qml.qnode(qml.device("default.qubit", wires=2))
... def circuit(x):
...     qml.IQPEmbedding(features=x, wires=[0, 1])
...     qml.Hadamard(wires=1)
...     return qml.probs(wires=range(2))
>>> circuit([0.6, -1.57])                       # runs now, on the next executor (cyclic)
>>> futures = [circuit.run_later([0.6, -1.57]) for _ in range(4)]
>>> [f.result() for f in futures]               # concurrent.futures.Future objects

Both executors above are Aer simulators from :mod:`executors.local`; this module is the
decorator and its glue.  Results have the QNode's shape and interface.  The executors run on one
persistent asyncio loop in a daemon thread, started on first use.  Selection happens when you
call, so the cyclic order is the order of your calls even when their runs overlap.  Each recorded
structure of the QNode is compiled to circuits once (:class:`~executors.tapes.CallCompiler`);
later calls only record the tape and bind angles.  Differentiation through a qelectron is not
supported: gradients need the QNode itself.
"""

from __future__ import annotations

import asyncio
import functools
import threading
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future, InvalidStateError
from typing import Any

import pennylane as qml

from executors.base import ExecutionRequest, ExecutionResult, Executor, ExecutorSpec
from executors.cluster import ClusterExecutor, Selector, Ticket
from executors.local import AerSamplerExecutor
from executors.tapes import CallCompiler, QNodeBatch, pennylane_counts, to_interface

_loop: asyncio.AbstractEventLoop | None = None
_loop_lock = threading.Lock()


def background_loop() -> asyncio.AbstractEventLoop:
    """The shared event loop qelectrons run executors on (a daemon thread, started lazily)."""
    global _loop
    with _loop_lock:
        if _loop is None:
            loop = asyncio.new_event_loop()
            threading.Thread(target=loop.run_forever, name="qelectron-loop", daemon=True).start()
            _loop = loop
        return _loop


class QElectronFuture(Future):
    """A ``concurrent.futures.Future`` of one qelectron call; ``execution`` is the executor's
    :class:`ExecutionResult` (with ``metadata["executor"]`` and ``["failover"]``) once done."""

    execution: ExecutionResult | None = None


class QElectron:
    """A QNode bound to a :class:`ClusterExecutor`; call it, or ``run_later`` for a future."""

    def __init__(self, qnode: qml.QNode, cluster: ClusterExecutor):
        if not isinstance(qnode, qml.QNode):
            raise TypeError("qelectron wraps a QNode: put @qelectron above @qml.qnode")
        self.qnode = qnode
        self.cluster = cluster
        self.compiler = CallCompiler(qnode)
        functools.update_wrapper(self, qnode)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """Run now.  A member with ``run_sync`` (e.g. :class:`AerSamplerExecutor`) runs in this
        thread without touching the event loop; others run on the background loop."""
        batch, request = self._prepare(args, kwargs)
        ticket = self.cluster.select(request)
        execution = self.cluster.try_sync(ticket, request)
        if execution is None:
            return self._submit(batch, request, ticket).result()
        return _value(batch, execution)

    def run_later(self, *args: Any, **kwargs: Any) -> QElectronFuture:
        """Submit one call and return at once with a future of the QNode's result."""
        batch, request = self._prepare(args, kwargs)
        return self._submit(batch, request, self.cluster.select(request))

    def _prepare(self, args: tuple, kwargs: dict) -> tuple[QNodeBatch, ExecutionRequest]:
        batch = self.compiler(args, kwargs)
        request = ExecutionRequest(
            circuits=batch.circuits, shots=batch.shots, parameter_values=batch.values, tags=["qelectron"]
        )
        return batch, request

    def _submit(self, batch: QNodeBatch, request: ExecutionRequest, ticket: Ticket) -> QElectronFuture:
        cluster = self.cluster
        loop = background_loop()
        future = QElectronFuture()
        tasks: list[asyncio.Task] = []

        def finish(task: asyncio.Task) -> None:
            cluster.release(ticket)
            if future.done():
                return
            try:
                execution = task.result()
                value = _value(batch, execution)
            except BaseException as exc:  # noqa: BLE001 - handed to the caller through the future
                _settle(future, exc)
            else:
                future.execution = execution
                _settle(future, None, value)

        def start() -> None:
            if future.cancelled():
                cluster.release(ticket)
                return
            task = loop.create_task(cluster.run_on(ticket, request))
            task.add_done_callback(finish)
            tasks.append(task)

        def cancel_task() -> None:
            for task in tasks:
                task.cancel()

        future.add_done_callback(lambda f: f.cancelled() and loop.call_soon_threadsafe(cancel_task))
        _spawn(loop, start)
        return future


_pending: deque[Callable[[], None]] = deque()
_pending_lock = threading.Lock()
_drain_scheduled = False


def _spawn(loop: asyncio.AbstractEventLoop, start: Callable[[], None]) -> None:
    """Run ``start`` on the loop.  A burst of submissions wakes the loop once, not once each:
    every wake-up is a GIL hand-over that costs milliseconds on a busy machine."""
    global _drain_scheduled
    with _pending_lock:
        _pending.append(start)
        if _drain_scheduled:
            return
        _drain_scheduled = True
    loop.call_soon_threadsafe(_drain)


def _drain() -> None:
    global _drain_scheduled
    with _pending_lock:
        starts = list(_pending)
        _pending.clear()
        _drain_scheduled = False
    for start in starts:
        start()


def _value(batch: QNodeBatch, execution: ExecutionResult) -> Any:
    counts = [pennylane_counts(result) for result in execution.circuits]
    return to_interface(batch.postprocess(counts), batch.interface)


def _settle(future: Future, exc: BaseException | None, value: Any = None) -> None:
    try:
        if isinstance(exc, asyncio.CancelledError):
            future.cancel()
        elif exc is not None:
            future.set_exception(exc)
        else:
            future.set_result(value)
    except InvalidStateError:  # cancelled by the caller meanwhile
        pass


def qelectron(
    qnode: qml.QNode | None = None,
    *,
    executors: Executor | ExecutorSpec | Sequence[Executor | ExecutorSpec] | ClusterExecutor | None = None,
    selector: str | Selector = "cyclic",
) -> QElectron | Callable[[qml.QNode], QElectron]:
    """Decorate a QNode so it runs on ``executors`` (default: one :class:`AerSamplerExecutor`).

    ``selector`` is ``"cyclic"``, ``"random"``, ``"least_busy"`` or a callable
    ``(executors, request) -> executor``; a ready :class:`ClusterExecutor` keeps its own.
    """
    if isinstance(executors, ClusterExecutor):
        cluster = executors
    else:
        if executors is None:
            executors = [AerSamplerExecutor()]
        elif not isinstance(executors, Sequence):
            executors = [executors]
        cluster = ClusterExecutor(executors, selector, name="qelectron")
    if qnode is None:
        return lambda node: QElectron(node, cluster)
    return QElectron(qnode, cluster)
