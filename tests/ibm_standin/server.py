"""A stand-in for the IBM Quantum Platform API, for tests that drive the real ``qiskit-ibm-runtime``.

The stand-in is an HTTP *proxy target*: the client is given ``url="http://<name>.test"`` and the
stand-in as its proxy, so every host the client derives (``iam.``, ``api.global-search-tagging.``,
``globalcatalog.``, ``quantum.``) arrives here as an absolute-URI request and is routed by host
and path.  IAM requests to the hard-coded ``https://iam.cloud.ibm.com`` arrive as ``CONNECT``
tunnels, terminated with a throwaway CA (trusted through ``REQUESTS_CA_BUNDLE``).

Jobs run on qiskit-ibm-runtime fake backends with qiskit-aer: noiseless by default, with the fake
device's noise model when ``noise`` is on.  Results are encoded with ``RuntimeEncoder`` so
``job.result()`` returns a real ``PrimitiveResult``; an estimator job asking for zero-noise
extrapolation gets IBM's ZNE fields (``zne.py``).  ``StandIn.recorded`` keeps every job's request
body (``recording.py``), so a test can compare the options that arrived with those it sent.

In-process::

    with StandIn() as standin:
        os.environ.update(standin.env)
        QiskitRuntimeService(channel="ibm_quantum_platform", token=standin.token,
                             url=standin.url, instance=standin.crn, proxies=standin.proxies)

As a process: ``python -m tests.ibm_standin.server --port N`` prints one JSON line (url, token,
crn, proxies, env, control) and serves until killed; drive it with :class:`RemoteStandIn`.
"""

from __future__ import annotations

import argparse
import base64
import http.client
import itertools
import json
import re
import secrets
import signal
import socketserver
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from qiskit.primitives import BackendEstimatorV2, BackendSamplerV2
from qiskit.primitives.containers.estimator_pub import EstimatorPub
from qiskit.primitives.containers.sampler_pub import SamplerPub
from qiskit_aer import AerSimulator
from qiskit_ibm_runtime.fake_provider import FakeLimaV2, FakeManilaV2, FakeQuitoV2
from qiskit_ibm_runtime.utils import RuntimeDecoder, RuntimeEncoder

from executors.endpoints import EndpointPolicy
from tests.ibm_standin import zne
from tests.ibm_standin.recording import Recorder
from tests.ibm_standin.sessions import SessionBook, SessionError
from tests.ibm_standin.tls import make_tls
from tests.ibm_standin.usage import UsageBook

DEFAULT_BACKENDS = {"ibm_manila": FakeManilaV2, "ibm_lima": FakeLimaV2, "ibm_quito": FakeQuitoV2}
FINAL = ("Completed", "Failed", "Cancelled")
# The endpoint policy a credential needs to reach the stand-in: http ``*.test`` through a loopback proxy.
STANDIN_ENDPOINTS = EndpointPolicy(hosts=("*.test",), proxy_hosts=("127.0.0.1",), allow_http=True)
IAM_HOSTS = ["iam.cloud.ibm.com", "private.iam.cloud.ibm.com", "iam.test.cloud.ibm.com"]
RAN_TOO_LONG = 1305


def _now() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


def _b64(data: dict[str, Any] | bytes) -> str:
    raw = data if isinstance(data, bytes) else json.dumps(data).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


@dataclass
class Fault:
    """One injected fault: answer ``status``, sleep, or drop the connection."""

    pattern: re.Pattern[str]
    kind: str  # "status" | "slow" | "drop"
    method: str | None = None
    status: int = 500
    seconds: float = 0.0
    retry_after: float | None = None
    times: int | None = 1  # None: forever
    after: bool = False  # answer the fault only after the request was really processed

    def matches(self, method: str, path: str) -> bool:
        return (self.method is None or self.method == method) and bool(self.pattern.search(path))


@dataclass
class Job:
    id: str
    backend: str
    program: str
    params: dict[str, Any]
    tags: list[str]
    session_id: str | None
    max_execution_time: int | None = None  # the payload's "cost"
    created: str = field(default_factory=_now)
    status: str = "Queued"
    reason: str | None = None
    reason_code: int | None = None
    result: str | None = None
    released: threading.Event = field(default_factory=threading.Event)
    timestamps: dict[str, str | None] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        state: dict[str, Any] = {"status": self.status}
        if self.reason:
            state["reason"] = self.reason
        if self.reason_code:
            state["reason_code"] = self.reason_code
        return {
            "id": self.id,
            "backend": self.backend,
            "state": state,
            "status": self.status,
            "program": {"id": self.program},
            "created": self.created,
            "tags": self.tags,
            "session_id": self.session_id,
            "runtime": "",
            "private": False,
        }


class StandIn:
    """The IBM Quantum API stand-in. ``start()`` binds 127.0.0.1 (``port=0``: any free port)."""

    def __init__(
        self,
        *,
        port: int = 0,
        name: str = "standin",
        token: str | None = None,
        backends: dict[str, type] | None = None,
        noise: bool = False,
        job_delay: float = 0.0,
    ):
        self.port = port
        self.name = name
        self.token = token or f"standin-{secrets.token_hex(12)}"
        self.crn = f"crn:v1:bluemix:public:quantum-computing:us-east:a/standin:{uuid.uuid4()}::"
        self.noise = noise
        self.job_delay = job_delay
        self.hold_jobs = False
        self.queue_lengths: dict[str, int] = {}
        self.calibrations: dict[str, dict[str, Any]] = {}  # properties served instead of the fake's
        self.calls: list[dict[str, Any]] = []
        self.jobs: dict[str, Job] = {}
        self.recorded = Recorder()  # every job's full request body
        self.session_book = SessionBook()  # sessions and batches: what they are and saw
        self.usage = UsageBook()  # quantum seconds per job and the instance's consumption
        self._fakes = {name: cls() for name, cls in (backends or DEFAULT_BACKENDS).items()}
        self._faults: list[Fault] = []
        self._fail_next: list[tuple[int, str]] = []
        self._access_tokens: set[str] = set()
        self._lock = threading.RLock()
        self._ids = itertools.count(1)
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._tmp = tempfile.TemporaryDirectory(prefix="ibm-standin-")
        self.ca_file, self._ssl = make_tls(Path(self._tmp.name), [*IAM_HOSTS, f"iam.{name}.test"])

    # -- lifecycle ---------------------------------------------------------------------------
    def start(self) -> StandIn:
        handler = type("Handler", (_Handler,), {"standin": self})
        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, name="ibm-standin", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        for job in self.jobs.values():
            job.released.set()
        self._tmp.cleanup()

    def __enter__(self) -> StandIn:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- what a client needs -----------------------------------------------------------------
    @property
    def url(self) -> str:
        return f"http://{self.name}.test"

    @property
    def proxy(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def proxies(self) -> dict[str, Any]:
        """``proxies=`` for ``QiskitRuntimeService`` (and ``IBMCredential.proxies``)."""
        return {"urls": {"http": self.proxy, "https": self.proxy}}

    @property
    def env(self) -> dict[str, str]:
        """Environment a client process needs: ``list_instances`` ignores ``proxies=`` and IAM is https."""
        env = {"HTTP_PROXY": self.proxy, "HTTPS_PROXY": self.proxy, "NO_PROXY": "127.0.0.1,localhost"}
        env |= {key.lower(): value for key, value in env.items()}
        return env | {"REQUESTS_CA_BUNDLE": str(self.ca_file)}

    @property
    def post_count(self) -> int:
        """Every ``POST .../jobs`` received, answered or not."""
        with self._lock:
            return sum(1 for c in self.calls if c["method"] == "POST" and c["path"].endswith("/jobs"))

    def calls_to(self, pattern: str, method: str | None = None) -> list[dict[str, Any]]:
        with self._lock:
            return [
                c for c in self.calls if re.search(pattern, c["path"]) and (method is None or c["method"] == method)
            ]

    # -- fault injection and job control -----------------------------------------------------
    def inject(
        self,
        path_pattern: str,
        status: int,
        times: int | None = 1,
        *,
        method: str | None = None,
        retry_after: float | None = None,
        after: bool = False,
    ) -> None:
        """Answer the next ``times`` matching requests with ``status`` (429 gets ``Retry-After``).

        ``after=True`` processes the request first (a job is created) and then answers the fault:
        a response lost on the way back.
        """
        if status == 429 and retry_after is None:
            retry_after = 0
        self._add(
            Fault(
                re.compile(path_pattern),
                "status",
                method,
                status=status,
                retry_after=retry_after,
                times=times,
                after=after,
            )
        )

    def slow(
        self,
        path_pattern: str,
        seconds: float,
        times: int | None = None,
        *,
        method: str | None = None,
        after: bool = False,
    ) -> None:
        """Delay matching requests by ``seconds`` before answering.

        ``after=True`` processes the request first (a job is created) and then holds the answer:
        a client that dies meanwhile never learns the job's id.
        """
        self._add(Fault(re.compile(path_pattern), "slow", method, seconds=seconds, times=times, after=after))

    def drop(self, path_pattern: str, times: int | None = 1, *, method: str | None = None) -> None:
        """Close the connection of the next ``times`` matching requests without answering."""
        self._add(Fault(re.compile(path_pattern), "drop", method, times=times))

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    def fail_next(self, code: int = RAN_TOO_LONG, message: str | None = None) -> None:
        """Make the next submitted job fail with IBM error ``code`` (1305: ran too long)."""
        if message is None:
            message = (
                "Job ran longer than the maximum execution time."
                if code == RAN_TOO_LONG
                else "Job failed on the backend."
            )
        with self._lock:
            self._fail_next.append((code, message))

    def hold(self, on: bool = True) -> None:
        """While on, new jobs stay ``Queued`` until :meth:`release`."""
        self.hold_jobs = on

    def release(self, job_id: str | None = None) -> None:
        """Let one held job (or all) run."""
        with self._lock:
            jobs = [self.jobs[job_id]] if job_id else list(self.jobs.values())
        for job in jobs:
            job.released.set()

    def reset(self) -> None:
        """Forget faults, calls and job controls (jobs themselves stay)."""
        with self._lock:
            self._faults.clear()
            self._fail_next.clear()
            self.calls.clear()
        self.hold_jobs = False
        self.release()

    def _add(self, fault: Fault) -> None:
        with self._lock:
            self._faults.append(fault)

    def _take_fault(self, method: str, path: str) -> list[Fault]:
        """Faults that apply to this request (consuming one use of each)."""
        hits = []
        with self._lock:
            for fault in list(self._faults):
                if fault.matches(method, path) and (fault.kind == "slow" or not any(h.kind != "slow" for h in hits)):
                    hits.append(fault)
                    if fault.times is not None:
                        fault.times -= 1
                        if fault.times <= 0:
                            self._faults.remove(fault)
        return hits

    # -- jobs --------------------------------------------------------------------------------
    def _create_job(self, body: dict[str, Any]) -> Job:
        backend = body.get("backend") or next(iter(self._fakes))
        if backend not in self._fakes:
            raise _HTTPError(404, f"Backend {backend} not found", 1216)
        job = Job(
            id=f"standin{next(self._ids):04d}{secrets.token_hex(6)}",
            backend=backend,
            program=body.get("program_id", "sampler"),
            params=body.get("params") or {},
            tags=list(body.get("tags") or []),
            session_id=body.get("session_id"),
            max_execution_time=body.get("cost"),
        )
        job.timestamps = {"created": job.created, "running": None, "finished": None}
        with self._lock:
            try:
                self.session_book.admit(job.session_id, job.id)
            except SessionError as err:
                raise _HTTPError(err.status, err.message, err.code) from None
            failure = self._fail_next.pop(0) if self._fail_next else None
            self.jobs[job.id] = job
        if not self.hold_jobs:
            job.released.set()
        threading.Thread(target=self._run_job, args=(job, failure), daemon=True).start()
        return job

    def _run_job(self, job: Job, failure: tuple[int, str] | None) -> None:
        job.released.wait()
        if job.status != "Queued":
            return
        job.status = "Running"
        job.timestamps["running"] = _now()
        time.sleep(self.job_delay)
        if failure is not None:
            code, message = failure
            job.reason, job.reason_code = message, code
            job.result = f"Error code {code}: {message}"
            job.status = "Cancelled" if code == RAN_TOO_LONG else "Failed"
        else:
            try:
                job.result = json.dumps(self._simulate(job), cls=RuntimeEncoder)
            except Exception as exc:  # noqa: BLE001 - a bad payload is the job's failure, as on IBM
                job.reason, job.reason_code = f"{type(exc).__name__}: {exc}", 1517
                job.result = f"Error code 1517: {job.reason}"
                job.status = "Failed"
                return
            if job.status == "Running":
                job.status = "Completed"
        self.usage.charge(job.id)
        job.timestamps["finished"] = _now()
        self._session_job_ended(job)

    def _session_job_ended(self, job: Job) -> None:
        with self._lock:
            pending = any(j.session_id == job.session_id and j.status not in FINAL for j in self.jobs.values())
        self.session_book.job_finished(job.session_id, pending)

    def _simulate(self, job: Job) -> Any:
        fake = self._fakes[job.backend]
        options = job.params.get("options") or {}
        seed = (options.get("simulator") or {}).get("seed_simulator")
        simulator = AerSimulator.from_backend(fake) if self.noise else AerSimulator()
        if seed is not None:
            simulator.set_options(seed_simulator=seed)
        pubs = job.params.get("pubs") or []
        if job.program == "estimator":
            shots = options.get("default_shots")
            precision = options.get("default_precision") or (shots**-0.5 if shots else 0.015625)
            if zne.wants_zne(job.params):
                return zne.run(simulator, pubs, options, precision)
            estimator = BackendEstimatorV2(backend=simulator, options={"default_precision": precision})
            return estimator.run([EstimatorPub.coerce(tuple(p)) for p in pubs]).result()
        sampler = BackendSamplerV2(backend=simulator, options={"default_shots": options.get("default_shots") or 4096})
        return sampler.run([SamplerPub.coerce(tuple(p)) for p in pubs]).result()

    def _cancel(self, job_id: str) -> None:
        job = self._job(job_id)
        with self._lock:
            if job.status in FINAL:
                raise _HTTPError(409, f"Job {job_id} is already in a final state", 1317)
            if job.status == "Running":
                self.usage.charge(job.id)  # IBM bills a cancelled job for the time it ran
            job.status = "Cancelled"
            job.timestamps["finished"] = _now()
        job.released.set()
        self._session_job_ended(job)

    def _job(self, job_id: str) -> Job:
        with self._lock:
            if job_id not in self.jobs:
                raise _HTTPError(404, f"Job {job_id} not found", 1291)
            return self.jobs[job_id]

    def _list_jobs(self, query: dict[str, list[str]]) -> dict[str, Any]:
        tags = set(query.get("tags", []))
        with self._lock:
            jobs = [j for j in self.jobs.values() if tags <= set(j.tags)]
        if "backend" in query:
            jobs = [j for j in jobs if j.backend == query["backend"][0]]
        if "session_id" in query:
            jobs = [j for j in jobs if j.session_id == query["session_id"][0]]
        if "pending" in query:
            pending = query["pending"][0] == "true"
            jobs = [j for j in jobs if (j.status not in FINAL) == pending]
        jobs.sort(key=lambda j: j.id, reverse=query.get("sort", ["DESC"])[0] != "ASC")
        offset = int(query.get("offset", ["0"])[0])
        limit = int(query.get("limit", ["20"])[0])
        return {"jobs": [j.to_json() for j in jobs[offset : offset + limit]], "count": len(jobs)}

    # -- backends ----------------------------------------------------------------------------
    def _fake(self, name: str) -> Any:
        if name not in self._fakes:
            raise _HTTPError(404, f"Backend {name} not found", 1216)
        return self._fakes[name]

    def _backend_file(self, name: str, kind: str) -> dict[str, Any]:
        fake = self._fake(name)
        if kind == "props" and name in self.calibrations:  # tests.ibm_standin.calibration.recalibrate
            return self.calibrations[name]
        filename = fake.conf_filename if kind == "conf" else fake.props_filename
        data = json.loads((Path(fake.dirname) / filename).read_text())
        data["backend_name"] = name
        return data

    def _pending(self, name: str) -> int:
        if name in self.queue_lengths:
            return self.queue_lengths[name]
        with self._lock:
            return sum(1 for j in self.jobs.values() if j.backend == name and j.status not in FINAL)

    def _devices(self) -> dict[str, Any]:
        return {
            "devices": [
                {
                    "name": name,
                    "status": {"name": "online", "reason": "available"},
                    "qubits": fake.num_qubits,
                    "queue_length": self._pending(name),
                    "is_simulator": False,
                    "processor_type": {"family": "Falcon"},
                }
                for name, fake in self._fakes.items()
            ]
        }

    # -- routing -----------------------------------------------------------------------------
    def _issue_access_token(self) -> str:
        now = int(time.time())
        token = ".".join(
            [
                _b64({"alg": "RS256", "typ": "JWT"}),
                _b64({"iat": now, "exp": now + 3600, "sub": "standin", "jti": secrets.token_hex(8)}),
                _b64(b"standin-signature"),
            ]
        )
        with self._lock:
            self._access_tokens.add(token)
        return token

    def _authorized(self, headers: Any) -> bool:
        kind, _, value = (headers.get("Authorization") or "").partition(" ")
        return kind == "Bearer" and value in self._access_tokens

    def route(
        self, method: str, host: str, path: str, query: dict[str, list[str]], body: bytes, headers: Any
    ) -> tuple[int, Any]:
        """Answer one API request: ``(status, json-able body or text)``."""
        if host.startswith(("iam.", "private.iam.")):
            if method == "POST" and path == "/identity/token":
                form = parse_qs(body.decode())
                if form.get("apikey", [""])[0] != self.token:
                    raise _HTTPError(400, "Provided API key could not be found.", "BXNIM0415E")
                token = self._issue_access_token()
                return 200, {
                    "access_token": token,
                    "refresh_token": "not-supported",
                    "token_type": "Bearer",
                    "expires_in": 3600,
                    "expiration": int(time.time()) + 3600,
                }
            raise _HTTPError(404, "Not found", 404)
        if not self._authorized(headers):
            raise _HTTPError(401, "Invalid or expired token.", "BXNIM0407E" if "iam" in host else 1200)
        if host.startswith("api.global-search-tagging.") and path == "/v3/resources/search":
            return 200, {
                "items": [
                    {
                        "crn": self.crn,
                        "name": "standin-instance",
                        "service_plan_unique_id": "standin-plan",
                        "tags": [],
                        "doc": {"extensions": {"virtual_private_endpoints": {}, "allocations": ["x"]}},
                    }
                ],
                "limit": 100,
            }
        if host.startswith("globalcatalog."):
            return 200, {"overview_ui": {"en": {"display_name": "Open"}}, "metadata": {"pricing": {"type": "free"}}}
        if not path.startswith("/api/v1/"):
            raise _HTTPError(404, f"No route for {path}", 404)
        return self._runtime(method, path[len("/api/v1") :].rstrip("/"), query, body)

    def _runtime(self, method: str, path: str, query: dict[str, list[str]], body: bytes) -> tuple[int, Any]:
        parts = path.strip("/").split("/")
        match method, parts:
            case "GET", ["backends"]:
                return 200, self._devices()
            case "GET", ["backends", name, "configuration"]:
                return 200, self._backend_file(name, "conf")
            case "GET", ["backends", name, "properties"]:
                return 200, self._backend_file(name, "props")
            case "GET", ["backends", name, "status"]:
                self._fake(name)
                return 200, {
                    "state": True,
                    "status": "active",
                    "message": "available",
                    "length_queue": self._pending(name),
                    "backend_version": "1.0.0",
                }
            case "GET", ["instances", "usage"]:
                return 200, self.usage.instance(self.crn)
            case "GET", ["instance"]:
                return 200, {"qctrl_enabled": False, "plan": "open"}
            case "POST", ["jobs"]:
                payload = json.loads(body, cls=RuntimeDecoder)
                job = self._create_job(payload)
                self.recorded.record(job.id, payload)
                return 200, {"id": job.id, "backend": job.backend, "session_id": job.session_id}
            case "GET", ["jobs"]:
                return 200, self._list_jobs(query)
            case "GET", ["jobs", job_id]:
                job = self._job(job_id)
                # As IBM's API: the job's params (its PUBs, options) unless ``exclude_params=true``.
                shown = {} if query.get("exclude_params") == ["true"] else {"params": job.params}
                return 200, job.to_json() | self.usage.job_fields(job_id) | shown
            case "GET", ["jobs", job_id, "results"]:
                job = self._job(job_id)
                if job.result is None:
                    raise _HTTPError(404, f"Results for job {job_id} are not available", 1290)
                return 200, _Text(job.result)
            case "GET", ["jobs", job_id, "metrics"]:
                return 200, self.usage.metrics(job_id, self._job(job_id).timestamps)
            case "GET", ["jobs", job_id, "logs"]:
                self._job(job_id)
                return 200, _Text("")
            case "POST", ["jobs", job_id, "cancel"]:
                self._cancel(job_id)
                return 204, None
            case "DELETE", ["jobs", job_id]:
                self._job(job_id)
                with self._lock:
                    del self.jobs[job_id]
                return 204, None
            case _, ["sessions", *rest]:
                return self._sessions_route(method, rest, body)
        raise _HTTPError(404, f"No route for {method} {path}", 404)

    def _sessions_route(self, method: str, parts: list[str], body: bytes) -> tuple[int, Any]:
        """``/sessions...``, answered by ``self.session_book`` (tests/ibm_standin/sessions.py)."""
        try:
            answer = self.session_book.route(method, parts, json.loads(body or b"{}"))
        except SessionError as err:
            raise _HTTPError(err.status, err.message, err.code) from None
        if answer is None:
            raise _HTTPError(404, f"No route for {method} /sessions/{'/'.join(parts)}", 404)
        status, payload = answer
        if isinstance(payload, tuple):  # ("cancel", job ids): the session's unfinished jobs
            for job_id in payload[1]:
                if self.jobs.get(job_id) is not None and self.jobs[job_id].status not in FINAL:
                    self._cancel(job_id)
            payload = None
        return status, payload

    def control(self, method: str, action: str, body: dict[str, Any]) -> Any:
        """The ``/_standin/<action>`` HTTP control API (for stand-ins in another process)."""
        if method == "GET" and action == "state":
            return {
                "post_count": self.post_count,
                "calls": self.calls,
                "url": self.url,
                "token": self.token,
                "crn": self.crn,
                "jobs": {j.id: j.to_json() for j in self.jobs.values()},
                "sessions": self.session_book.state(),
                "charged": self.usage.charged(),
            }
        actions = {
            "inject": lambda: self.inject(
                body["pattern"],
                body["status"],
                body.get("times", 1),
                method=body.get("method"),
                retry_after=body.get("retry_after"),
                after=body.get("after", False),
            ),
            "slow": lambda: self.slow(
                body["pattern"],
                body["seconds"],
                body.get("times"),
                method=body.get("method"),
                after=body.get("after", False),
            ),
            "drop": lambda: self.drop(body["pattern"], body.get("times", 1), method=body.get("method")),
            "clear_faults": self.clear_faults,
            "fail_next": lambda: self.fail_next(body.get("code", RAN_TOO_LONG), body.get("message")),
            "hold": lambda: self.hold(body.get("on", True)),
            "release": lambda: self.release(body.get("job_id")),
            "noise": lambda: setattr(self, "noise", bool(body.get("on", True))),
            "reset": self.reset,
            "usage": lambda: self.usage.configure(body),
        }
        if method != "POST" or action not in actions:
            raise _HTTPError(404, f"No control action {action}", 404)
        actions[action]()
        return {"ok": True}


class _HTTPError(Exception):
    def __init__(self, status: int, message: str, code: int | str):
        super().__init__(message)
        self.status, self.message, self.code = status, message, code


class _Text(str):
    """A body served as text/plain rather than JSON."""


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    standin: StandIn
    tunnel_host: str | None = None

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        pass

    def do_CONNECT(self) -> None:  # noqa: N802
        """Terminate a TLS tunnel (IAM on its hard-coded https host) and keep serving inside it."""
        self.send_response(200, "Connection established")
        self.end_headers()
        self.wfile.flush()
        tls = self.standin._ssl.wrap_socket(self.connection, server_side=True)
        self.connection = tls
        self.rfile = tls.makefile("rb")
        self.wfile = socketserver._SocketWriter(tls)
        self.tunnel_host = self.path.split(":")[0]
        self.close_connection = False

    def do_GET(self) -> None:  # noqa: N802
        self._serve()

    do_POST = do_PUT = do_PATCH = do_DELETE = do_GET

    def _serve(self) -> None:
        url = urlsplit(self.path)
        host = (url.hostname or self.tunnel_host or self.headers.get("Host", "")).split(":")[0]
        path, query = url.path, parse_qs(url.query)
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        standin = self.standin
        if path.startswith("/_standin/"):
            try:
                self._reply(200, standin.control(self.command, path[len("/_standin/") :], json.loads(body or b"{}")))
            except _HTTPError as err:
                self._reply(err.status, {"error": err.message})
            return
        with standin._lock:
            standin.calls.append({"method": self.command, "host": host, "path": path, "time": time.time()})
        late, delay_after = None, 0.0
        for fault in standin._take_fault(self.command, path):
            if fault.kind == "slow" and fault.after:
                delay_after += fault.seconds
            elif fault.kind == "slow":
                time.sleep(fault.seconds)
            elif fault.kind == "drop":
                self.close_connection = True
                self.connection.close()
                return
            elif fault.after:
                late = fault
            else:
                return self._error(
                    _HTTPError(fault.status, f"Injected HTTP {fault.status}", fault.status), fault.retry_after
                )
        try:
            status, payload = standin.route(self.command, host, path, query, body, self.headers)
        except _HTTPError as err:
            return self._error(err)
        time.sleep(delay_after)
        if late is not None:
            return self._error(_HTTPError(late.status, f"Injected HTTP {late.status}", late.status), late.retry_after)
        self._reply(status, payload)

    def _error(self, err: _HTTPError, retry_after: float | None = None) -> None:
        body = {
            "errors": [{"code": err.code, "message": err.message}],
            "status_code": err.status,
            "error": {"code": err.code, "message": err.message},
            "trace": uuid.uuid4().hex,
        }
        headers = {"Retry-After": str(retry_after)} if retry_after is not None else {}
        self._reply(err.status, body, headers)

    def _reply(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        if payload is None:
            data, kind = b"", "application/json"
        elif isinstance(payload, _Text):
            data, kind = payload.encode(), "text/plain"
        else:
            data, kind = json.dumps(payload, cls=RuntimeEncoder).encode(), "application/json"
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(data)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)


class RemoteStandIn:
    """Control a stand-in running in another process (``python -m tests.ibm_standin.server``)."""

    def __init__(self, port: int):
        self.port = port

    def _call(self, method: str, action: str, body: dict[str, Any] | None = None) -> Any:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            conn.request(method, f"/_standin/{action}", json.dumps(body or {}), {"Content-Type": "application/json"})
            response = conn.getresponse()
            data = json.loads(response.read() or b"null")
            if response.status != 200:
                raise RuntimeError(f"stand-in control {action}: HTTP {response.status} {data}")
            return data
        finally:
            conn.close()

    def state(self) -> dict[str, Any]:
        return self._call("GET", "state")

    @property
    def post_count(self) -> int:
        return self.state()["post_count"]

    @property
    def calls(self) -> list[dict[str, Any]]:
        return self.state()["calls"]

    def sessions(self) -> dict[str, Any]:
        """``SessionBook.state()``: ``created`` (ids in order) and ``sessions`` by id."""
        return self.state()["sessions"]

    def inject(
        self,
        path_pattern: str,
        status: int,
        times: int | None = 1,
        *,
        method: str | None = None,
        retry_after: float | None = None,
        after: bool = False,
    ) -> None:
        self._call(
            "POST",
            "inject",
            {
                "pattern": path_pattern,
                "status": status,
                "times": times,
                "method": method,
                "retry_after": retry_after,
                "after": after,
            },
        )

    def slow(
        self,
        path_pattern: str,
        seconds: float,
        times: int | None = None,
        *,
        method: str | None = None,
        after: bool = False,
    ) -> None:
        self._call(
            "POST",
            "slow",
            {"pattern": path_pattern, "seconds": seconds, "times": times, "method": method, "after": after},
        )

    def drop(self, path_pattern: str, times: int | None = 1, *, method: str | None = None) -> None:
        self._call("POST", "drop", {"pattern": path_pattern, "times": times, "method": method})

    def fail_next(self, code: int = RAN_TOO_LONG, message: str | None = None) -> None:
        self._call("POST", "fail_next", {"code": code, "message": message})

    def hold(self, on: bool = True) -> None:
        self._call("POST", "hold", {"on": on})

    def release(self, job_id: str | None = None) -> None:
        self._call("POST", "release", {"job_id": job_id})

    def reset(self) -> None:
        self._call("POST", "reset")

    def set_usage(self, **body: Any) -> None:
        """``UsageBook.configure``: ``seconds``, ``limit``, ``consumed``."""
        self._call("POST", "usage", body)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--name", default="standin")
    parser.add_argument("--token")
    parser.add_argument("--noise", action="store_true")
    args = parser.parse_args()
    standin = StandIn(port=args.port, name=args.name, token=args.token, noise=args.noise).start()
    print(
        json.dumps(
            {
                "url": standin.url,
                "port": standin.port,
                "token": standin.token,
                "crn": standin.crn,
                "proxies": standin.proxies,
                "env": standin.env,
                "control": f"http://127.0.0.1:{standin.port}/_standin/",
            }
        ),
        flush=True,
    )
    stopped = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stopped.set())
    stopped.wait()
    standin.stop()


if __name__ == "__main__":
    main()
