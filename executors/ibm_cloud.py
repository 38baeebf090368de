"""IBM Quantum Platform: SamplerV2/EstimatorV2 on IBM backends through ``qiskit-ibm-runtime``.

Every SDK call blocks, so each runs in a thread (``asyncio.to_thread``), wrapped in
:func:`executors.retry.retry_async`: HTTP 429, 5xx and network faults are retried with capped,
jittered exponential backoff, then raised as :class:`TransientError`; 401/403 raise
:class:`AuthenticationError` at once; a job IBM reports as failed (e.g. error 1305, "ran too long")
raises :class:`RemoteJobFailed` with IBM's message.

Remote jobs are never duplicated: each is tagged with the request's ``submit_key`` (and
``<submit_key>.<part>`` per call), a retried submission first looks its tag up, and a lost
submission is found again with :meth:`IBMCloudExecutor.find_by_tag`.

Options: ``ExecutorSpec.options`` (the profile's) with ``ExecutionRequest.options`` (the job's)
over them.  The portal's ``optimization_level`` and ``seed`` steer local transpilation; every
field of qiskit-ibm-runtime's SamplerOptions/EstimatorOptions goes to IBM as given
(:func:`executors.runtime.cloud_options`), the submit-key tags joined by the user's
``environment.job_tags``.  Fields the job's primitive has no use for (a profile's ``resilience``
on a sampler job) are left out and listed in the result's ``ignored_options``.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import requests
from qiskit import QuantumCircuit
from qiskit_ibm_runtime import Batch, EstimatorV2, QiskitRuntimeService, RuntimeJobV2, SamplerV2, Session
from qiskit_ibm_runtime.accounts import InvalidAccountError
from qiskit_ibm_runtime.api.exceptions import RequestsApiError
from qiskit_ibm_runtime.exceptions import (
    IBMInputValueError,
    IBMNotAuthorizedError,
    RuntimeInvalidStateError,
    RuntimeJobFailureError,
    RuntimeJobMaxTimeoutError,
    RuntimeJobNotFound,
)

from executors import usage
from executors.base import (
    AuthenticationError,
    CircuitResult,
    ExecutionRequest,
    ExecutionResult,
    ExecutorError,
    ExecutorSpec,
    IBMCredential,
    InvalidRequest,
    JobCancelled,
    JobHandle,
    RemoteJobFailed,
    RemoteState,
    TransientError,
)
from executors.circuits import validate_request
from executors.device import calibration_of
from executors.ibm_sessions import RemoteSessions
from executors.job_options import effective_options
from executors.provenance import isa_summary
from executors.pubs import build_pubs, estimator_circuit, pub_form
from executors.results import convert_estimator_result, convert_sampler_result
from executors.retry import retry_async
from executors.runtime import DEFAULT_OPTIMIZATION_LEVEL, check_isa, cloud_options, transpile_to_isa

logger = logging.getLogger(__name__)
T = TypeVar("T")

_AUTH_STATUS = (401, 403)
_TRANSIENT_STATUS = (-1, 408, 429)  # -1: the client's own retries ran out (RetryError)
_STATES = {
    "INITIALIZING": RemoteState.QUEUED,
    "QUEUED": RemoteState.QUEUED,
    "RUNNING": RemoteState.RUNNING,
    "DONE": RemoteState.DONE,
    "ERROR": RemoteState.FAILED,
    "CANCELLED": RemoteState.CANCELLED,
}
_FINAL = (RemoteState.DONE, RemoteState.FAILED, RemoteState.CANCELLED)
_SUB_STATUS = {RemoteState.QUEUED: "waiting for QPU", RemoteState.RUNNING: "executing"}

# Seconds a loaded backend object is used before its calibration is fetched again.
BACKEND_TTL = 300.0

_services: dict[str, QiskitRuntimeService] = {}
_services_lock = threading.Lock()


# -- errors ------------------------------------------------------------------------------------
def _chain(error: BaseException) -> list[BaseException]:
    """``error`` and every exception it was raised from or during (the client hides causes)."""
    seen: list[BaseException] = []
    pending = [error]
    while pending:
        current = pending.pop()
        if current is None or any(current is s for s in seen):
            continue
        seen.append(current)
        pending += [current.__cause__, current.__context__]
    return seen


def _status_code(error: BaseException) -> int | None:
    if isinstance(error, IBMNotAuthorizedError):
        return 401
    if isinstance(error, RequestsApiError):
        return error.status_code
    response = getattr(error, "response", None) or getattr(error, "http_response", None)
    status = getattr(response, "status_code", None)
    if status is None and isinstance(getattr(error, "code", None), int):
        status = error.code  # ibm_cloud_sdk_core.ApiException (IAM, global search)
    return status


def _is_iam_refusal(error: BaseException) -> bool:
    """IAM answers 400 to an API key it does not know."""
    response = getattr(error, "http_response", None)
    return _status_code(error) == 400 and "/identity/token" in str(getattr(response, "url", ""))


def _scrub(text: str, credential: IBMCredential | None) -> str:
    if credential is not None and credential.token:
        text = text.replace(credential.token, "****")
    return text


def classify(error: BaseException, credential: IBMCredential | None = None) -> ExecutorError:
    """The executor error for an exception from ``qiskit-ibm-runtime``; never contains the token."""
    if isinstance(error, ExecutorError):
        return error
    chain = _chain(error)
    message = _scrub(str(error) or type(error).__name__, credential)
    for item in chain:
        if isinstance(
            item,
            (requests.ConnectionError, requests.Timeout, requests.exceptions.RetryError, ConnectionError, TimeoutError),
        ):
            return TransientError(f"IBM Quantum unreachable: {message}")
        status = _status_code(item)
        if status in _AUTH_STATUS or _is_iam_refusal(item):
            return AuthenticationError(f"IBM Quantum refused the credential (HTTP {status}): {message}")
        if status is not None and (status in _TRANSIENT_STATUS or status >= 500):
            return TransientError(f"IBM Quantum answered HTTP {status}: {message}")
    if isinstance(error, InvalidAccountError):
        return AuthenticationError(f"IBM Quantum refused the credential: {message}")
    if isinstance(error, (IBMInputValueError, ValueError, TypeError)):
        return InvalidRequest(message)
    return ExecutorError(f"IBM Quantum error: {message}")


def _retry_after(error: BaseException) -> float | None:
    for item in _chain(error):
        response = getattr(item, "response", None)
        value = getattr(response, "headers", {}).get("Retry-After") if response is not None else None
        if value is not None:
            try:
                return float(value)
            except ValueError:
                return None
    return None


# -- service cache -----------------------------------------------------------------------------
def credential_key(credential: IBMCredential) -> str:
    """A hash of every field of ``credential`` (the cache key; safe to log)."""
    fields = [
        credential.token,
        credential.channel,
        credential.instance,
        credential.url,
        credential.proxies,
        credential.verify,
    ]
    return hashlib.sha256(json.dumps(fields, sort_keys=True, default=str).encode()).hexdigest()


def _build_service(credential: IBMCredential) -> QiskitRuntimeService:
    kwargs: dict[str, Any] = {
        "channel": credential.channel,
        "token": credential.token,
        "instance": credential.instance,
        "url": credential.url,
        "proxies": credential.proxies,
        "verify": credential.verify,
    }
    return QiskitRuntimeService(**{key: value for key, value in kwargs.items() if value is not None})


def get_service(credential: IBMCredential, *, fresh: bool = False) -> QiskitRuntimeService:
    """The cached ``QiskitRuntimeService`` for ``credential`` (blocking: call it in a thread).

    Raises :class:`~executors.endpoints.EndpointRefused` (an InvalidRequest once classified) when the
    credential's url or proxies are outside its endpoint policy; nothing is sent then.
    """
    credential.endpoints.check(credential)  # before the token can reach any host
    key = credential_key(credential)
    with _services_lock:
        if not fresh and key in _services:
            return _services[key]
    try:
        service = _build_service(credential)
    except Exception as error:
        raise classify(error, credential) from error
    with _services_lock:
        if fresh or key not in _services:
            _services[key] = service
        return _services[key]


def forget_service(credential: IBMCredential) -> None:
    """Drop the cached service (after the credential was refused or rotated)."""
    with _services_lock:
        _services.pop(credential_key(credential), None)


def validate_credential(credential: IBMCredential) -> tuple[bool, str]:
    """Build the service and make one authenticated API call. Blocking; returns ``(ok, message)``."""
    try:
        service = get_service(credential, fresh=True)
        service.usage()
    except Exception as error:
        failure = classify(error, credential)
        if isinstance(failure, AuthenticationError):
            forget_service(credential)
        return False, str(failure)
    return True, f"credential accepted for instance {service.active_instance()}"


USAGE_KEYS = ("usage_consumed_seconds", "usage_limit_seconds", "usage_remaining_seconds", "usage_limit_reached")


def instance_usage(credential: IBMCredential) -> dict[str, Any]:
    """The instance's ``service.usage()``: seconds consumed, its limit and what remains. Blocking."""
    try:
        found = get_service(credential).usage()
    except Exception as error:
        raise classify(error, credential) from error
    return {key: found.get(key) for key in USAGE_KEYS if key in found}


def list_backends(credential: IBMCredential) -> list[dict[str, Any]]:
    """The instance's backends: name, num_qubits, pending_jobs, operational. Blocking."""
    try:
        rows = []
        for backend in get_service(credential).backends():
            status = backend.status()
            rows.append(
                {
                    "name": backend.name,
                    "num_qubits": backend.num_qubits,
                    "pending_jobs": status.pending_jobs,
                    "operational": status.operational,
                    "status_msg": status.status_msg,
                }
            )
        return rows
    except Exception as error:
        raise classify(error, credential) from error


def least_busy(credential: IBMCredential) -> str:
    """Name of the operational backend with the shortest queue. Blocking."""
    try:
        return get_service(credential).least_busy(operational=True).name
    except Exception as error:
        raise classify(error, credential) from error


# -- executor ----------------------------------------------------------------------------------
@dataclass
class _Remote:
    """``JobHandle.state``: the client's job objects in part order, and the request's callbacks."""

    jobs: list[RuntimeJobV2]
    submitted: float
    request: ExecutionRequest | None = None
    isa: list[dict[str, Any]] | None = None  # per circuit, as submitted (executors.provenance)


def _isa_details(circuits: list[QuantumCircuit]) -> list[dict[str, Any]]:
    """Each submitted circuit's ``physical_qubits`` and ``isa`` summary, for its result's metadata."""
    return [
        {
            "physical_qubits": c.layout.final_index_layout() if c.layout is not None else None,
            "isa": isa_summary(c, index),
        }
        for index, c in enumerate(circuits)
    ]


def _part_of(job: RuntimeJobV2, key: str) -> int:
    for tag in job.tags or []:
        prefix, _, part = tag.rpartition(".")
        if prefix == key and part.isdigit():
            return int(part)
    return 0


class IBMCloudExecutor:
    """Runs requests on an IBM Quantum backend (see the module docstring).

    ``attempts``/``base``/``cap`` tune retries and ``poll``/``poll_cap`` status polling; every
    retry wait is appended to ``retry_waits`` (seconds).  ``backend_ttl`` (default ``BACKEND_TTL``):
    seconds the backend object, and the calibration it transpiles with, is reused before a refresh.
    """

    def __init__(
        self,
        spec: ExecutorSpec,
        *,
        attempts: int = 6,
        base: float = 0.5,
        cap: float = 30.0,
        poll: float = 0.5,
        poll_cap: float = 10.0,
        backend_ttl: float | None = None,
    ):
        if spec.credential is None:
            raise InvalidRequest("an IBM cloud profile needs an IBM Quantum credential")
        self.spec = spec
        self.credential: IBMCredential = spec.credential
        self.name = "ibm_cloud"
        self.attempts, self.base, self.cap = attempts, base, cap
        self.poll, self.poll_cap = poll, poll_cap
        self.retry_waits: list[float] = []
        self._backend: Any = None
        self._backend_loaded = 0.0
        self.backend_ttl = BACKEND_TTL if backend_ttl is None else backend_ttl
        self._backend_lock = asyncio.Lock()
        self._sessions = RemoteSessions(self)  # portal sessions' IBM sessions, kept across jobs

    # -- plumbing ------------------------------------------------------------------------------
    async def _call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """``fn`` in a thread, retried on transient faults; errors come out classified."""

        def transient(error: BaseException) -> bool:
            return isinstance(classify(error, self.credential), TransientError)

        def record(attempt: int, wait: float, error: BaseException) -> None:
            self.retry_waits.append(wait)
            logger.warning(
                "IBM call %s failed (%s); retry %d in %.2fs",
                getattr(fn, "__name__", "call"),
                _scrub(str(classify(error, self.credential)), self.credential),
                attempt,
                wait,
            )

        try:
            return await retry_async(
                lambda: asyncio.to_thread(fn, *args, **kwargs),
                attempts=self.attempts,
                base=self.base,
                cap=self.cap,
                is_transient=transient,
                on_retry=record,
                min_delay=_retry_after,
            )
        except Exception as error:
            failure = classify(error, self.credential)
            if isinstance(failure, AuthenticationError):
                forget_service(self.credential)
            raise failure from error

    async def _service(self) -> QiskitRuntimeService:
        return await self._call(get_service, self.credential)

    async def _get_backend(self) -> Any:
        """The backend object, loaded once and refreshed (configuration, properties, target) once
        it is older than ``backend_ttl`` seconds, so transpiling never uses a stale calibration."""
        async with self._backend_lock:
            if self._backend is None:
                service = await self._service()
                name = self.spec.backend or await self._call(least_busy, self.credential)
                self._backend = await self._call(service.backend, name)
                self._backend_loaded = time.monotonic()
            elif time.monotonic() - self._backend_loaded > self.backend_ttl:
                await self._call(self._backend.refresh)
                self._backend_loaded = time.monotonic()
        return self._backend

    async def current_backend(self) -> Any:
        """The ``IBMBackend`` jobs are transpiled for, with its current calibration (see ``backend_ttl``)."""
        return await self._get_backend()

    def _option(self, key: str, default: Any = None) -> Any:
        value = self.spec.options.get(key)
        return default if value is None else value

    # -- contract ------------------------------------------------------------------------------
    def max_qubits(self) -> int | None:
        """Qubits of the backend, once it has been loaded by a submit (None before)."""
        return None if self._backend is None else self._backend.num_qubits

    def validate(self, request: ExecutionRequest) -> None:
        validate_request(request, self.max_qubits(), self.spec.backend or "the IBM backend")

    def queue_length(self) -> int | None:
        """IBM's queue on the profile's backend, ``status().pending_jobs`` (blocking; None without a
        named backend).  A cluster's ``least_busy`` selector reads it."""
        if not self.spec.backend:
            return None
        try:
            return int(get_service(self.credential).backend(self.spec.backend).status().pending_jobs)
        except Exception as error:
            raise classify(error, self.credential) from error

    async def run(self, request: ExecutionRequest) -> ExecutionResult:
        return await self.result(await self.submit(request))

    async def submit(self, request: ExecutionRequest) -> JobHandle:
        """Transpile, submit (one job, or one per circuit), and return the remote ids at once."""
        self.validate(request)
        backend = await self._get_backend()
        self.validate(request)
        key = request.submit_key or f"qportal-{uuid.uuid4().hex}"
        if request.on_progress:
            request.on_progress("transpiling")
        circuits = await asyncio.to_thread(self._prepare, request, backend)
        calibration = await asyncio.to_thread(calibration_of, backend)  # what they were transpiled against
        shots = request.shots or int(self._option("default_shots", self.spec.shots))
        indices = list(range(len(circuits)))
        groups = [indices] if self.spec.single_job else [[index] for index in indices]
        if request.session is not None:
            mode = await self._sessions.join(request.session, backend)
        else:
            mode = await self._call(self._open_mode, backend)
        jobs = []
        try:
            for part, group in enumerate(groups):
                pubs = build_pubs(request, circuits, group)
                tags = [key, f"{key}.{part}", *request.tags]
                jobs.append(await self._submit_part(mode, request, pubs, tags, shots))
                logger.info(
                    "submitted IBM job %s (part %d of %d, tag %s) to %s",
                    jobs[-1].job_id(),
                    part + 1,
                    len(groups),
                    key,
                    backend.name,
                )
        except ExecutorError as error:
            if request.session is not None:  # e.g. the IBM session expired: say which and why
                raise self._sessions.refused(request.session, error) from error
            raise
        finally:
            if isinstance(mode, (Batch, Session)) and request.session is None:
                await self._close(mode)
        return JobHandle(
            executor=self.name,
            remote_ids=[job.job_id() for job in jobs],
            state=_Remote(jobs, time.monotonic(), request, _isa_details(circuits)),
            calibration=calibration,
        )

    async def _close(self, mode: Batch | Session) -> None:
        """Stop the batch/session accepting jobs; the submitted ones still run."""
        try:
            await self._call(mode.close)
        except ExecutorError as error:
            logger.warning("could not close IBM %s %s: %s", self.spec.mode, mode.session_id, error)

    async def close_session(self, remote_id: str, mode: str = "session") -> None:
        """Stop the IBM session (or batch) ``remote_id`` taking jobs; its jobs still run."""
        await self._sessions.end(remote_id, mode, cancel=False)

    async def cancel_session(self, remote_id: str, mode: str = "session") -> None:
        """Cancel the IBM session (or batch) ``remote_id`` with its unfinished jobs."""
        await self._sessions.end(remote_id, mode, cancel=True)

    def _prepare(self, request: ExecutionRequest, backend: Any) -> list[QuantumCircuit]:
        circuits = list(request.circuits)
        if request.primitive == "estimator":
            circuits = [estimator_circuit(circuit) for circuit in circuits]
        if not self.spec.local_transpile:
            check_isa(circuits, backend)
            return circuits
        options = effective_options(self.spec.options, request.options)
        level = int(options.get("optimization_level", DEFAULT_OPTIMIZATION_LEVEL))
        seed = options.get("seed")
        return transpile_to_isa(circuits, backend, level, None if seed is None else int(seed))

    def _open_mode(self, backend: Any) -> Any:
        if self.spec.mode == "batch":
            return Batch(backend=backend, max_time=self.spec.max_time)
        if self.spec.mode == "session":
            return Session(backend=backend, max_time=self.spec.max_time)
        return backend

    async def _submit_part(
        self, mode: Any, request: ExecutionRequest, pubs: list[Any], tags: list[str], shots: int
    ) -> RuntimeJobV2:
        """Submit one primitive call; a retry first looks for a job an earlier try left behind."""
        service = await self._service()
        part_tag = tags[1]
        tried = False

        def submit_once() -> RuntimeJobV2:
            nonlocal tried
            if tried:
                found = service.jobs(job_tags=[part_tag], limit=1)
                if found:
                    logger.info("IBM job %s was created by an earlier try; not resubmitting", found[0].job_id())
                    return found[0]
            tried = True
            merged = effective_options(self.spec.options, request.options)
            options, _ = cloud_options(request.primitive, merged, shots=shots, tags=tags)
            factory = SamplerV2 if request.primitive == "sampler" else EstimatorV2
            return factory(mode=mode, options=options).run(pubs)

        return await self._call(submit_once)

    def _jobs(self, handle: JobHandle) -> list[RuntimeJobV2]:
        if not isinstance(handle.state, _Remote):
            raise ExecutorError("this handle has no IBM jobs attached; use reattach(remote_ids)")
        return handle.state.jobs

    async def _job_state(self, job: RuntimeJobV2) -> RemoteState:
        return _STATES.get(str(await self._call(job.status)), RemoteState.QUEUED)

    async def status(self, handle: JobHandle) -> RemoteState:
        states = [await self._job_state(job) for job in self._jobs(handle)]
        for state in (RemoteState.FAILED, RemoteState.CANCELLED, RemoteState.RUNNING, RemoteState.QUEUED):
            if state in states:
                return state
        return RemoteState.DONE

    async def result(self, handle: JobHandle) -> ExecutionResult:
        """Poll (with growing intervals) until every job is final, then fetch and convert results.

        The submitted request's ``on_progress``/``on_circuit`` callbacks are called on the way.
        """
        jobs = self._jobs(handle)
        request = handle.state.request
        delay, reported = self.poll, None
        while (state := await self.status(handle)) not in _FINAL:
            if request and request.on_progress and state != reported:
                request.on_progress(_SUB_STATUS[state])
            reported = state
            await asyncio.sleep(delay)
            delay = min(self.poll_cap, delay * 1.5)
        if state == RemoteState.FAILED:
            raise RemoteJobFailed(
                "; ".join(
                    [await self._failure(job) for job in jobs if await self._job_state(job) == RemoteState.FAILED]
                )
            )
        if state == RemoteState.CANCELLED:
            raise JobCancelled(f"IBM job(s) {', '.join(handle.remote_ids)} were cancelled")
        if request and request.on_progress:
            request.on_progress("post-processing")
        circuits: list[CircuitResult] = []
        for job in jobs:
            primitive_result = await self._call(job.result)
            indices = list(range(len(circuits), len(circuits) + len(primitive_result)))
            metadata = {"remote_id": job.job_id()}
            if job.primitive_id == "estimator":
                shaped = pub_form(request, indices) if request else ()
                part = convert_estimator_result(primitive_result, indices, None, metadata, shaped)
            else:
                memory = bool(request and request.memory)
                part = convert_sampler_result(primitive_result, indices, metadata, memory=memory)
            for item in part:
                if handle.state.isa is not None and item.index < len(handle.state.isa):
                    item.metadata.update(handle.state.isa[item.index])
                if request and request.on_circuit:
                    request.on_circuit(item)
            circuits += part
        backend = self._backend.name if self._backend is not None else self.spec.backend
        metadata: dict[str, Any] = {"backend": backend, "mode": self.spec.mode}
        if request is not None:
            merged = effective_options(self.spec.options, request.options)
            metadata["ignored_options"] = cloud_options(request.primitive, merged, shots=1, tags=[])[1]
        return ExecutionResult(
            circuits=circuits,
            execution_time=time.monotonic() - handle.state.submitted,
            remote_ids=list(handle.remote_ids),
            metadata=metadata,
            usage=await self._call(usage.ibm_usage, jobs),  # the quantum seconds IBM charged
        )

    async def _failure(self, job: RuntimeJobV2) -> str:
        try:
            await asyncio.to_thread(job.result)
        except (RuntimeJobFailureError, RuntimeJobMaxTimeoutError) as error:
            return _scrub(f"IBM job {job.job_id()} failed: {error}", self.credential)
        return f"IBM job {job.job_id()} failed"

    async def usage_estimate(self, handle: JobHandle) -> dict[str, float]:
        """IBM's own estimate for the handle's jobs, read once they are submitted
        (``executors.usage.ibm_estimate``; the job objects keep it for :meth:`result`)."""
        return await self._call(usage.ibm_estimate, self._jobs(handle))

    async def usage_of(self, handle: JobHandle) -> dict[str, float]:
        """What IBM charged for the handle's jobs so far (``executors.usage.ibm_usage``): a failed
        or cancelled job is billed for the time it ran."""
        return await self._call(usage.ibm_usage, self._jobs(handle))

    async def cancel(self, handle: JobHandle) -> None:
        """Cancel every remote job that is not final yet (already-final jobs are fine)."""
        for job in self._jobs(handle):
            try:
                await self._call(job.cancel)
            except ExecutorError as error:
                if not isinstance(error.__cause__, RuntimeInvalidStateError):
                    raise
                logger.info("IBM job %s was already final", job.job_id())

    async def reattach(self, remote_ids: list[str], request: ExecutionRequest | None = None) -> JobHandle:
        """A handle for jobs submitted earlier, looked up by id; never resubmits.  ``request``: the
        job's, whose callbacks and ``memory`` then apply as if it had been submitted here."""
        service = await self._service()
        jobs = []
        for remote_id in remote_ids:
            try:
                jobs.append(await self._call(service.job, remote_id))
            except ExecutorError as error:
                if isinstance(error.__cause__, RuntimeJobNotFound):
                    raise RemoteJobFailed(f"IBM job {remote_id} no longer exists") from error
                raise
        state = _Remote(jobs, time.monotonic(), request, await self._submitted_isa(jobs, request))
        return JobHandle(executor=self.name, remote_ids=list(remote_ids), state=state)

    async def _submitted_isa(self, jobs: list[RuntimeJobV2], request: ExecutionRequest | None):
        """The ISA details of circuits submitted earlier (a job taken over after a crash), read
        back from what IBM holds of each job (``inputs``: its PUBs, circuits as QPY with their
        layout); None without a request (a cancel) or when IBM cannot say."""
        if request is None:
            return None
        try:
            inputs = [await self._call(lambda job=job: job.inputs) for job in jobs]
            circuits = [pub[0] for held in inputs for pub in held.get("pubs") or ()]
        except (ExecutorError, IndexError, TypeError) as error:
            logger.info("ISA circuits of reattached IBM jobs not read: %s", error)
            return None
        if not all(isinstance(circuit, QuantumCircuit) for circuit in circuits):
            return None
        return await asyncio.to_thread(_isa_details, circuits)

    async def find_by_tag(self, submit_key: str, request: ExecutionRequest | None = None) -> JobHandle | None:
        """Jobs tagged ``submit_key`` (a submit whose ids were lost), in part order; None if none.
        ``request`` as for :meth:`reattach`."""
        service = await self._service()
        jobs = await self._call(service.jobs, job_tags=[submit_key], limit=None)
        if not jobs:
            return None
        jobs.sort(key=lambda job: _part_of(job, submit_key))
        return JobHandle(
            executor=self.name,
            remote_ids=[job.job_id() for job in jobs],
            state=_Remote(jobs, time.monotonic(), request, await self._submitted_isa(jobs, request)),
        )
