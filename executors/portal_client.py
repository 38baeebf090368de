"""A client for a qportal server's REST API, and an executor that runs jobs through it.

>>> client = PortalClient("http://localhost:8000", api_key="qp_...")
>>> job = client.submit(profile="aer", circuits=[qasm_text], shots=1024)
>>> client.wait(job["id"])["status"]
'done'
>>> client.results(job["id"])[0]["counts"]
>>> job = client.submit(profile="aer", circuits=[qasm_text], shots=1024, memory=True)
>>> client.results(job["id"], memory=True)[0]["memory"][:3]   # each shot's bitstring, in order
['00', '11', '11']

Errors: a 4xx answer raises :class:`InvalidRequest` (401/403: :class:`AuthenticationError`) with
the server's message; 5xx answers and connection faults raise :class:`TransientError`.
"""

from __future__ import annotations

import asyncio
import base64
import io
import json
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any

from qiskit import QuantumCircuit, qasm2, qpy
from qiskit.primitives import BitArray

from executors.base import (
    AuthenticationError,
    CircuitResult,
    ExecutionRequest,
    ExecutionResult,
    InvalidRequest,
    JobCancelled,
    JobHandle,
    RemoteJobFailed,
    RemoteState,
    TransientError,
)
from executors.results import memory_of

TERMINAL = frozenset({"done", "failed", "cancelled"})
_STATES = {
    "queued": RemoteState.QUEUED,
    "submitting": RemoteState.QUEUED,
    "running": RemoteState.RUNNING,
    "done": RemoteState.DONE,
    "failed": RemoteState.FAILED,
    "cancelled": RemoteState.CANCELLED,
}


LONG_POLL_SECONDS = 60.0  # the server's limit for ``?wait=``
RESULTS_PAGE = 200  # the server's largest page of results


class PortalClient:
    """Blocking JSON client for ``{base_url}/api/v1`` authenticated with an API key."""

    def __init__(self, base_url: str, api_key: str, *, timeout: float = 30.0):
        self.base_url = base_url.rstrip("/")
        self._api_key = api_key
        self.timeout = timeout

    def __repr__(self) -> str:  # keep the key out of logs
        return f"PortalClient({self.base_url!r})"

    def submit(
        self,
        profile: str | None,
        circuits: list[str],
        *,
        shots: int | None = None,
        primitive: str = "sampler",
        observables: list[Any] | None = None,
        name: str | None = None,
        tags: list[str] | None = None,
        memory: bool = False,
        options: dict[str, Any] | None = None,
        session: str | None = None,
    ) -> dict[str, Any]:
        """Create a job from OpenQASM 2 texts; returns the server's job JSON (``id``, ``status``).
        ``memory``: keep each shot's outcome (sampler only), read back with ``results(memory=True)``.
        ``session``: a portal session's id (:meth:`create_session`); ``profile`` may then be None
        (the session's).
        ``options``: primitive options over the profile's (any field of qiskit-ibm-runtime's
        SamplerOptions/EstimatorOptions); a bad one is an :class:`InvalidRequest` naming it."""
        body: dict[str, Any] = {
            "circuits": [{"qasm": text} for text in circuits],
            "primitive": primitive,
        }
        optional = {
            "profile": profile,
            "shots": shots,
            "observables": observables,
            "name": name,
            "tags": tags,
            "session": session,
            "options": options or None,
        }
        body.update({key: value for key, value in optional.items() if value is not None})
        if memory:
            body["memory"] = True
        return self._request("POST", "/api/v1/jobs", body)

    def submit_circuits(
        self,
        profile: str,
        circuits: list[dict[str, Any]],
        *,
        primitive: str = "sampler",
        shots: int | None = None,
        memory: bool = False,
        name: str | None = None,
        tags: list[str] | None = None,
        session: Any = None,
        options: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Create a job from circuit entries as the API takes them (``{"qpy": qpy_text(circuit)}``
        or ``{"qasm": ...}``, each optionally a whole PUB: ``parameter_values``, ``observables``,
        ``shots``, ``precision``); ``session``: the portal session the job joins."""
        body: dict[str, Any] = {"profile": profile, "circuits": circuits, "primitive": primitive}
        optional = {"shots": shots, "name": name, "tags": tags, "session": session, "options": options}
        body.update({key: value for key, value in optional.items() if value is not None})
        if memory:
            body["memory"] = True
        return self._request("POST", "/api/v1/jobs", body)

    def estimate(
        self, profile: str, circuits: list[str], *, shots: int | None = None, **options: Any
    ) -> dict[str, Any]:
        """What ``submit`` would do, checked and stored nowhere (``"dry_run": true``):
        ``estimated_qpu_seconds`` with what it was computed from, ``counts_against_budget`` and the
        budgets that apply.  A job over a budget raises :class:`InvalidRequest` with the server's
        message (HTTP 402: what remains and when it resets)."""
        body: dict[str, Any] = {"profile": profile, "circuits": [{"qasm": text} for text in circuits], "dry_run": True}
        if shots is not None:
            body["shots"] = shots
        body.update(options)
        return self._request("POST", "/api/v1/jobs", body)

    def job(self, job_id: str, *, wait: float = 0) -> dict[str, Any]:
        """The job's JSON; with ``wait`` (at most 60 s) the server answers once it has finished, or
        when the wait is over (long-poll: one request, no polling delay)."""
        if wait > 0:
            wait = min(wait, LONG_POLL_SECONDS)
            return self._request("GET", f"/api/v1/jobs/{job_id}?wait={wait:g}", timeout=self.timeout + wait)
        return self._request("GET", f"/api/v1/jobs/{job_id}")

    def results(self, job_id: str, *, page: int = RESULTS_PAGE, memory: bool = False) -> list[dict[str, Any]]:
        """Every circuit's stored results in index order, read page by page (a job's JSON holds
        only per-circuit summaries).  ``memory``: with each shot's bitstring (``"memory"``, in shot
        order) for circuits that kept them; ``has_memory`` says which did either way."""
        results: list[dict[str, Any]] = []
        extra = "&memory=true" if memory else ""
        while True:
            path = f"/api/v1/jobs/{job_id}/results?offset={len(results)}&limit={page}{extra}"
            answer = self._request("GET", path)
            results.extend(answer["items"])
            if not answer["items"] or len(results) >= answer["count"]:
                return results

    def cancel(self, job_id: str) -> dict[str, Any]:
        return self._request("POST", f"/api/v1/jobs/{job_id}/cancel", {})

    def create_session(
        self,
        profile: str,
        *,
        mode: str = "session",
        max_time: int | None = None,
        name: str = "",
        idle_timeout: int | None = None,
    ) -> dict[str, Any]:
        """Open a portal session (``mode="session"``) or batch on ``profile``: its jobs run in one
        IBM ``Session``/``Batch``.  Returns its JSON (``id``, ``status``...)."""
        body: dict[str, Any] = {"profile": profile, "mode": mode, "name": name}
        optional = {"max_time": max_time, "idle_timeout": idle_timeout}
        body.update({key: value for key, value in optional.items() if value is not None})
        return self._request("POST", "/api/v1/sessions", body)

    def session(self, session_id: str) -> dict[str, Any]:
        """The session's JSON with its ``jobs``, oldest first."""
        return self._request("GET", f"/api/v1/sessions/{session_id}")

    def sessions(self) -> list[dict[str, Any]]:
        """Your teams' sessions, newest first."""
        return self._request("GET", "/api/v1/sessions")

    def close_session(self, session_id: str) -> dict[str, Any]:
        """No new jobs; the ones already submitted finish (idempotent)."""
        return self._request("POST", f"/api/v1/sessions/{session_id}/close", {})

    def cancel_session(self, session_id: str) -> dict[str, Any]:
        """Cancel the session's queued and running jobs and the IBM session (idempotent)."""
        return self._request("POST", f"/api/v1/sessions/{session_id}/cancel", {})

    def wait(self, job_id: str, *, timeout: float | None = None) -> dict[str, Any]:
        """Wait (long-polling the server) until the job is done, failed or cancelled; returns its last JSON."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            remaining = LONG_POLL_SECONDS if deadline is None else deadline - time.monotonic()
            job = self.job(job_id, wait=max(0.0, min(remaining, LONG_POLL_SECONDS)))
            if job.get("status") in TERMINAL:
                return job
            if deadline is not None and time.monotonic() >= deadline:
                raise TimeoutError(f"job {job_id} still {job.get('status')} after {timeout} s")

    def _request(
        self, method: str, path: str, body: dict[str, Any] | None = None, *, timeout: float | None = None
    ) -> Any:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.base_url + path, data=data, method=method)
        request.add_header("Authorization", f"Bearer {self._api_key}")
        request.add_header("Accept", "application/json")
        if data is not None:
            request.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(request, timeout=timeout or self.timeout) as response:
                return json.loads(response.read() or b"{}")
        except urllib.error.HTTPError as exc:
            message = _message(exc)
            if exc.code in (401, 403):
                raise AuthenticationError(f"{exc.code}: {message}") from None
            if exc.code == 429 or exc.code >= 500:
                raise TransientError(f"{exc.code}: {message}") from None
            raise InvalidRequest(message) from None
        except (urllib.error.URLError, ConnectionError, TimeoutError, json.JSONDecodeError) as exc:
            raise TransientError(f"cannot reach {self.base_url}: {exc}") from exc


def qpy_text(circuit: QuantumCircuit) -> str:
    """``circuit`` as the API's ``qpy`` field: base64 of its QPY."""
    buffer = io.BytesIO()
    qpy.dump(circuit, buffer)
    return base64.b64encode(buffer.getvalue()).decode()


def _message(exc: urllib.error.HTTPError) -> str:
    raw = exc.read().decode(errors="replace")
    try:
        payload = json.loads(raw)
    except ValueError:
        return raw.strip() or exc.reason
    if isinstance(payload, dict):
        for key in ("detail", "error", "message"):
            if payload.get(key):
                return str(payload[key])
    return raw


class PortalExecutor:
    """An :class:`~executors.base.Executor` that runs requests as jobs on a qportal server,
    under the team profile ``profile``.  Each request is one portal job."""

    def __init__(self, base_url: str, api_key: str, profile: str, *, long_poll: float = 20.0):
        self.client = PortalClient(base_url, api_key)
        self.profile = profile
        self.long_poll = long_poll  # seconds each status request may wait on the server
        self.name = f"portal:{profile}"

    def max_qubits(self) -> int | None:
        return None

    def validate(self, request: ExecutionRequest) -> None:
        for index, circuit in enumerate(request.circuits):
            values = request.parameter_values[index] if request.parameter_values else None
            if circuit.num_parameters and not values:
                raise InvalidRequest(
                    f"circuit {index} has unbound parameters; the portal takes bound circuits",
                    index=index,
                )

    async def submit(self, request: ExecutionRequest) -> JobHandle:
        self.validate(request)
        circuits = [qasm2.dumps(circuit) for circuit in _bound(request)]
        job = await asyncio.to_thread(
            self.client.submit,
            self.profile,
            circuits,
            shots=request.shots,
            primitive=request.primitive,
            observables=request.observables,
            tags=request.tags or None,
            memory=request.memory,
            options=request.options or None,
        )
        return JobHandle(
            executor=self.name, remote_ids=[str(job["id"])], state=_Submitted(time.perf_counter(), request.memory)
        )

    async def status(self, handle: JobHandle) -> RemoteState:
        job = await asyncio.to_thread(self.client.job, handle.remote_ids[0])
        return _STATES.get(job.get("status"), RemoteState.RUNNING)

    async def result(self, handle: JobHandle) -> ExecutionResult:
        job_id = handle.remote_ids[0]
        while True:  # long-poll: the server answers as soon as the job has finished
            job = await asyncio.to_thread(self.client.job, job_id, wait=self.long_poll)
            status = job.get("status")
            if status == "done":
                break
            if status == "failed":
                raise RemoteJobFailed(str(job.get("error") or f"portal job {job_id} failed"))
            if status == "cancelled":
                raise JobCancelled(f"portal job {job_id} was cancelled")
        submitted = handle.state if isinstance(handle.state, _Submitted) else _Submitted(time.perf_counter(), False)
        items = await asyncio.to_thread(self.client.results, job_id, memory=submitted.memory)
        circuits = [_circuit_result(item) for item in items]
        return ExecutionResult(
            circuits,
            time.perf_counter() - submitted.started,
            remote_ids=[job_id],
            metadata={"executor": self.name, "portal_job": job_id},
            usage=job.get("usage") or {},  # what the portal recorded (qpu_seconds, wall_seconds...)
        )

    async def cancel(self, handle: JobHandle) -> None:
        await asyncio.to_thread(self.client.cancel, handle.remote_ids[0])

    async def run(self, request: ExecutionRequest) -> ExecutionResult:
        handle = await self.submit(request)
        try:
            return await self.result(handle)
        except asyncio.CancelledError:
            await asyncio.shield(self.cancel(handle))
            raise


@dataclass(frozen=True)
class _Submitted:
    """``JobHandle.state`` of a portal job: when it was submitted, and whether it keeps its shots."""

    started: float
    memory: bool


def _bound(request: ExecutionRequest) -> list:
    circuits = []
    for index, circuit in enumerate(request.circuits):
        values = request.parameter_values[index] if request.parameter_values else None
        circuits.append(circuit.assign_parameters(values) if values else circuit)
    return circuits


def _circuit_result(item: dict[str, Any]) -> CircuitResult:
    counts = item.get("counts")
    memory, memory_bits = None, None
    if item.get("memory") is not None:
        memory_bits = len(item["memory"][0]) if item["memory"] else 0
        bits = BitArray.from_samples(item["memory"], memory_bits) if item["memory"] else None
        memory = memory_of(bits)[0] if bits is not None else b""
    return CircuitResult(
        index=int(item.get("index", 0)),
        shots=item.get("shots") or (sum(counts.values()) if counts else None),
        counts=counts,
        probabilities=item.get("probabilities"),
        evs=item.get("evs"),
        stds=item.get("stds"),
        metadata=item.get("metadata") or {},
        memory=memory,
        memory_bits=memory_bits,
    )
