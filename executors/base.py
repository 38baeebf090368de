"""The executor contract: what every backend (local, IBM runtime, PennyLane device, portal) offers.

An executor turns an :class:`ExecutionRequest` (circuits already parsed and validated) into an
:class:`ExecutionResult`.  It is asyncio-native; blocking SDK calls run in threads inside the
executor, never on the caller's event loop.  Nothing here imports Django.
"""

from __future__ import annotations

import enum
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable

import numpy as np
from qiskit import QuantumCircuit
from qiskit.primitives import BitArray

from executors.endpoints import EndpointPolicy

Primitive = Literal["sampler", "estimator"]

MAX_SHOTS = 100_000
MAX_CIRCUITS = 1000


class ExecutorError(Exception):
    """Base of every error an executor raises; ``str(err)`` is written for a person."""


class InvalidRequest(ExecutorError):
    """The request can never run as given (bad QASM, too many qubits, absurd shots...).

    ``index`` names the offending circuit (0-based) when there is one, ``line`` the QASM line.
    """

    def __init__(self, message: str, *, index: int | None = None, line: int | None = None):
        super().__init__(message)
        self.index = index
        self.line = line


class TransientError(ExecutorError):
    """A fault worth retrying later (HTTP 429, 5xx, dropped connection, backend busy)."""


class AuthenticationError(ExecutorError):
    """The credential was refused (HTTP 401/403). Never retried; the credential is invalid."""


class RemoteJobFailed(ExecutorError):
    """The backend ran the job and reported failure (e.g. IBM error 1305). Terminal."""


class SimulatorDied(ExecutorError):
    """The simulator process running the job died (a signal, the out-of-memory killer) or could not
    get the memory the job needs. Terminal: running the job again would end the same way."""


class JobCancelled(ExecutorError):
    """The job was cancelled before it produced a result."""


class RemoteState(str, enum.Enum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"


@dataclass
class SessionRequest:
    """The portal session (or batch) a request runs in: every request with the same ``key`` runs
    inside one remote ``Session``/``Batch``, never closed by the executor after a job.

    ``remote_id``: the remote session's id, when one was opened already (by any process).
    ``on_session_id``: awaited with a newly opened remote session's id and its backend's name before
    any job is sent into it; it persists the id and returns the id to use (another process may have saved one first:
    the executor then closes its own and joins that one).  Executors without remote sessions
    (local simulators, fake backends) ignore the whole field.
    """

    key: str
    mode: Literal["session", "batch"] = "session"
    max_time: int | None = None
    remote_id: str | None = None
    on_session_id: Callable[[str, str], Awaitable[str]] | None = None

    def __getstate__(self) -> dict[str, Any]:  # a child process is sent no callback
        return {**self.__dict__, "on_session_id": None}


@dataclass
class ExecutionRequest:
    """Everything needed to run one job.

    ``observables`` (estimator only) has one entry per circuit: a list of ``(pauli, coeff)`` pairs
    or a list of Pauli strings, in Qiskit's little-endian label order.  ``parameter_values`` has
    one entry per circuit: a flat list of floats bound in ``circuit.parameters`` order, or None.
    ``submit_key`` is persisted by the caller before ``submit`` and used to tag remote jobs so a
    lost submission can be found again.  ``sources``, when given, has one entry per circuit: the
    OpenQASM text the circuit is the :func:`executors.circuits.parse_circuit` of (up to its name),
    or None; the caller promises not to change such a circuit.  A simulator child process is then
    sent the text, which it parses faster than it unpickles the circuit.
    ``memory`` (sampler only): keep each shot's outcome, in shot order (``CircuitResult.memory``),
    not only the counts.  ``options``: the job's own primitive options (validated by
    :mod:`executors.options`), merged over ``ExecutorSpec.options`` by :mod:`executors.job_options`.
    PUB sweeps (:mod:`executors.sweeps`): a ``parameter_values`` entry may also be an array of
    shape ``(..., num_parameters)`` or a ``{name: array}`` dict, an ``observables`` entry
    ``{"array": <nested observables>}``; ``pub_shots`` (sampler) and ``precisions`` (estimator),
    when given, hold one entry per circuit (None: the job's default).
    """

    circuits: list[QuantumCircuit]
    primitive: Primitive = "sampler"
    shots: int | None = None
    observables: list[Any] | None = None
    parameter_values: list[list[float] | None] | None = None
    tags: list[str] = field(default_factory=list)
    submit_key: str | None = None
    sources: list[str | None] | None = None
    memory: bool = False
    options: dict[str, Any] = field(default_factory=dict)  # the job's primitive options, over the spec's
    pub_shots: list[int | None] | None = None
    precisions: list[float | None] | None = None
    on_circuit: Callable[[CircuitResult], None] | None = None  # called as each circuit finishes
    on_progress: Callable[[str], None] | None = None  # sub-status text: "transpiling", "executing"
    session: SessionRequest | None = None  # run inside this portal session's remote session


@dataclass
class CircuitResult:
    """Result of one circuit (one PUB).

    Sampler: ``counts`` joins all classical registers into Qiskit's usual bitstring (first register
    rightmost); ``register_counts`` keeps each register apart; ``probabilities`` is counts/shots.
    Estimator: ``evs`` and ``stds`` (one value per observable).

    A swept PUB (:mod:`executors.sweeps`) has a ``shape``: ``evs``/``stds`` then hold its values
    flattened in C order, ``counts`` the tally over all bindings (as ``BitArray.get_counts()``
    gives it), ``binding_counts`` each binding's counts (C order), ``shots`` the shots per binding
    and ``memory`` every binding's shots, binding after binding.  ``shape`` is None for a flat job.

    ``memory`` (a sampler request with ``memory=True``): every shot's outcome in shot order, as
    Qiskit's ``BitArray`` holds them: ``shots`` rows of ``ceil(memory_bits / 8)`` bytes, big-endian
    (clbit 0 is the lowest bit of a row's last byte), all registers joined as in ``counts``.
    :meth:`bit_array` rebuilds the ``BitArray``; its ``get_counts()`` equals ``counts``.
    """

    index: int
    shots: int | None = None
    counts: dict[str, int] | None = None
    register_counts: dict[str, dict[str, int]] | None = None
    probabilities: dict[str, float] | None = None
    evs: list[float] | None = None
    stds: list[float] | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    memory: bytes | None = None
    memory_bits: int | None = None
    shape: tuple[int, ...] | None = None
    binding_counts: list[dict[str, int]] | None = None

    def memory_array(self) -> np.ndarray | None:
        """``memory`` as a uint8 array of shape (shots, bytes per shot); None without memory."""
        if self.memory is None or self.memory_bits is None:
            return None
        return np.frombuffer(self.memory, dtype=np.uint8).reshape(-1, memory_width(self.memory_bits))

    def bit_array(self) -> BitArray | None:
        """``memory`` as the ``qiskit.primitives.BitArray`` it came from; None without memory."""
        array = self.memory_array()
        return None if array is None else BitArray(array.copy(), self.memory_bits)

    def memory_bitstrings(self) -> list[str] | None:
        """One bitstring per shot, in shot order (``BitArray.get_bitstrings()``); None without memory."""
        array = self.memory_array()
        return None if array is None else bitstrings(array, self.memory_bits)

    def to_dict(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "shots": self.shots,
            "counts": self.counts,
            "register_counts": self.register_counts,
            "probabilities": self.probabilities,
            "evs": self.evs,
            "stds": self.stds,
            "metadata": self.metadata,
            "memory": self.memory_bitstrings(),
            "shape": None if self.shape is None else list(self.shape),
            "binding_counts": self.binding_counts,
        }


def memory_width(num_bits: int) -> int:
    """Bytes one shot takes in a ``BitArray`` of ``num_bits`` bits."""
    return max(1, -(-num_bits // 8))


def bitstrings(array: np.ndarray, num_bits: int) -> list[str]:
    """Each row of a ``BitArray``-packed uint8 array (big-endian) as a bitstring of ``num_bits``
    characters: ``BitArray.get_bitstrings()`` without formatting a Python integer per shot."""
    if num_bits == 0:
        return [""] * len(array)
    bits = np.unpackbits(np.ascontiguousarray(array, dtype=np.uint8), axis=1)[:, -num_bits:]
    text = (bits + ord("0")).astype(np.uint8).tobytes()
    return [text[i : i + num_bits].decode() for i in range(0, len(text), num_bits)]


@dataclass
class ExecutionResult:
    circuits: list[CircuitResult]
    execution_time: float
    remote_ids: list[str] = field(default_factory=list)
    metadata: dict[str, Any] = field(default_factory=dict)
    # What the job used (executors.usage): qpu_seconds (IBM), wall_seconds and cpu_seconds (simulators).
    usage: dict[str, float] = field(default_factory=dict)


@dataclass
class JobHandle:
    """What ``submit`` returns: enough to poll, fetch, cancel or reattach after a restart."""

    executor: str
    remote_ids: list[str] = field(default_factory=list)
    state: Any = None  # executor-private (an asyncio.Task, a RuntimeJob...); never persisted
    # The backend's calibration the job was transpiled against (executors.device.calibration_of),
    # when the executor knows it at submission (IBM cloud); in-process ones return it in the
    # result's metadata["calibration"].
    calibration: dict[str, Any] | None = None
    # A profile whose backend is "auto" (executors.auto): the backend chosen, the criterion, why.
    choice: dict[str, Any] | None = None


@runtime_checkable
class Executor(Protocol):
    name: str

    def max_qubits(self) -> int | None:
        """Qubits the backend offers (None when unbounded)."""

    def validate(self, request: ExecutionRequest) -> None:
        """Raise :class:`InvalidRequest` if the request can never run here."""

    async def submit(self, request: ExecutionRequest) -> JobHandle: ...

    async def status(self, handle: JobHandle) -> RemoteState: ...

    async def result(self, handle: JobHandle) -> ExecutionResult: ...

    async def cancel(self, handle: JobHandle) -> None: ...

    async def run(self, request: ExecutionRequest) -> ExecutionResult:
        """submit + result, the convenience path."""


@runtime_checkable
class InlineExecutor(Protocol):
    """An executor that can run a tiny job in the calling thread (the in-process simulators).

    A caller already in a worker thread skips the event loop round trips of ``submit``/``result``,
    which cost as much as such a job.  Only methods here, so ``isinstance`` stays cheap on the
    worker's path.
    """

    def runs_inline(self, request: ExecutionRequest, shots: int) -> bool:
        """True when ``request`` at ``shots`` is small enough to run in the caller's thread, even
        beside process isolation (:mod:`executors.isolation`)."""

    def run_inline(self, request: ExecutionRequest) -> ExecutionResult | None:
        """Run the job now, in this thread, if ``runs_inline`` says so; None (nothing run) otherwise."""


@runtime_checkable
class SessionExecutor(Protocol):
    """An executor whose remote sessions outlive a job (IBM cloud): ended by id, from any process."""

    async def close_session(self, remote_id: str, mode: str = "session") -> None:
        """Stop the remote session taking jobs; its submitted jobs still run."""

    async def cancel_session(self, remote_id: str, mode: str = "session") -> None:
        """Cancel the remote session's unfinished jobs and end it."""


@runtime_checkable
class RemoteExecutor(Executor, Protocol):
    """An executor whose jobs live on a remote service and survive our process (IBM cloud)."""

    async def reattach(self, remote_ids: list[str], request: ExecutionRequest | None = None) -> JobHandle:
        """Handle for jobs submitted earlier (after a restart); never resubmits.  ``request``: the
        job's request, whose callbacks and ``memory`` then apply as if it had been submitted here."""

    async def find_by_tag(self, submit_key: str, request: ExecutionRequest | None = None) -> JobHandle | None:
        """Look up jobs tagged with ``submit_key`` (a submit whose id was lost); None if absent."""


ExecutorKind = Literal["local", "fake", "ibm_cloud", "pennylane", "cluster"]
ExecutionMode = Literal["job", "batch", "session"]


@dataclass
class IBMCredential:
    """A decrypted IBM Quantum credential. Lives only in worker memory; never logged or sent."""

    token: str
    channel: str = "ibm_quantum_platform"
    instance: str | None = None
    url: str | None = None
    proxies: dict[str, Any] | None = None
    verify: bool = True
    # Where the token may go; checked before any request carries it (IBM's hosts unless widened).
    endpoints: EndpointPolicy = field(default_factory=EndpointPolicy)

    def __repr__(self) -> str:  # keep the token out of tracebacks and logs
        return f"IBMCredential(channel={self.channel!r}, instance={self.instance!r}, token=****{self.token[-4:]})"

    __str__ = __repr__


@dataclass
class ExecutorSpec:
    """A profile as the executor core sees it (built by the portal from an ExecutorProfile row).

    ``options``: the profile's, the portal's own keys (``executors.options.PORTAL_OPTIONS``:
    optimization_level, seed, noise, method, PennyLane's shots/max_jobs/device_options) and any
    field of qiskit-ibm-runtime's SamplerOptions/EstimatorOptions; a request's own
    ``ExecutionRequest.options`` apply over them (``executors.job_options``).
    """

    kind: ExecutorKind
    backend: str = ""
    shots: int = 1024
    options: dict[str, Any] = field(default_factory=dict)
    mode: ExecutionMode = "job"
    max_time: int | None = None
    single_job: bool = True
    local_transpile: bool = True
    credential: IBMCredential | None = None
    members: list[ExecutorSpec] = field(default_factory=list)  # cluster profiles
    selector: str = "cyclic"
