"""Qiskit's V2 primitive interfaces over a qportal server: code written against
``BaseSamplerV2`` / ``BaseEstimatorV2`` runs through the portal unchanged.

>>> client = PortalClient(url, api_key)
>>> sampler = PortalSampler(client=client, profile="local")
>>> sampler.run([bell], shots=1000).result()[0].data.meas.get_counts()
{'00': 507, '11': 493}
>>> estimator = PortalEstimator(client=client, profile="fake_manila")
>>> estimator.run([(ansatz, hamiltonian, thetas)], precision=0.02).result()[0].data.evs

Each ``run()`` is one portal job: every PUB (coerced with Qiskit's ``SamplerPub`` /
``EstimatorPub``) is one circuit entry, the circuit as QPY, its parameter values as an array in
``circuit.parameters`` order, its observables as an array of ``{label: coeff}`` objects, its own
shots or precision.  ``mode=`` takes a portal session (any object with ``client``, ``profile``
and ``id``); its jobs are submitted with ``"session": mode.id``.  The job's ``result()`` is a
``PrimitiveResult`` shaped as Qiskit's ``StatevectorSampler`` / ``StatevectorEstimator`` shape
theirs: a sampler PUB's ``DataBin`` holds one ``BitArray`` per classical register, named after
it, of the PUB's shape (rebuilt from the job's shots, kept with ``memory=True``); an estimator
PUB's holds ``evs`` and ``stds`` arrays of its shape.  Each PUB result's metadata holds Qiskit's
keys and ``portal``: what the portal stored of the circuit's run (backend, physical qubits...).
Nothing here imports Django.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Iterable
from typing import Any

import numpy as np
from qiskit import QuantumCircuit
from qiskit.primitives import BaseEstimatorV2, BasePrimitiveJob, BaseSamplerV2, BitArray, DataBin
from qiskit.primitives.containers import PrimitiveResult, PubResult, SamplerPubResult
from qiskit.primitives.containers.estimator_pub import EstimatorPub, EstimatorPubLike
from qiskit.primitives.containers.sampler_pub import SamplerPub, SamplerPubLike
from qiskit.providers import JobStatus

from executors.base import RemoteJobFailed
from executors.portal_client import PortalClient, qpy_text
from executors.portal_session import PortalSession  # the one import line: mode=PortalSession(...)

__all__ = ["PortalEstimator", "PortalPrimitiveJob", "PortalSampler", "PortalSession"]

_STATUS = {
    "queued": JobStatus.QUEUED,
    "submitting": JobStatus.INITIALIZING,
    "running": JobStatus.RUNNING,
    "done": JobStatus.DONE,
    "failed": JobStatus.ERROR,
    "cancelled": JobStatus.CANCELLED,
}
_FINAL = frozenset({JobStatus.DONE, JobStatus.ERROR, JobStatus.CANCELLED})


class _PortalPrimitive:
    """Where a primitive sends its jobs: ``mode`` (a portal session) or ``client`` + ``profile``."""

    def __init__(
        self,
        *,
        client: PortalClient | None = None,
        profile: str | None = None,
        mode: Any = None,
        options: dict[str, Any] | None = None,
    ):
        if mode is not None:
            client = client or mode.client
            profile = profile or mode.profile
        if client is None or not profile:
            raise ValueError("give mode= (a portal session) or both client= and profile=")
        self.client = client
        self.profile = profile
        self.mode = mode
        self.options = dict(options or {})

    @property
    def session(self) -> Any:
        return None if self.mode is None else self.mode.id

    def _submit(self, primitive: str, circuits: list[dict[str, Any]], *, shots: int | None, memory: bool) -> str:
        extra = {key: value for key, value in self.options.items() if key not in ("default_shots", "default_precision")}
        job = self.client.submit_circuits(
            self.profile,
            circuits,
            primitive=primitive,
            shots=shots,
            memory=memory,
            session=self.session,
            options=extra or None,
        )
        return str(job["id"])


class PortalSampler(_PortalPrimitive, BaseSamplerV2):
    """A ``BaseSamplerV2`` whose every ``run()`` is one portal sampler job (module docstring).
    ``options``: ``default_shots`` (else the profile's shots); other keys go to the job as its
    ``options``."""

    def run(self, pubs: Iterable[SamplerPubLike], *, shots: int | None = None) -> PortalPrimitiveJob:
        if shots is None:
            shots = self.options.get("default_shots")
        coerced = [SamplerPub.coerce(pub, shots) for pub in pubs]
        for pub in coerced:
            pub.validate()
        circuits = []
        for pub in coerced:
            entry = {"qpy": qpy_text(pub.circuit), **_values(pub.circuit, pub.parameter_values)}
            if pub.shots is not None and pub.shots != shots:  # a PUB's own shots; the job's otherwise
                entry["shots"] = int(pub.shots)
            circuits.append(entry)
        job_id = self._submit("sampler", circuits, shots=shots, memory=True)
        return PortalPrimitiveJob(self.client, job_id, "sampler", coerced)


class PortalEstimator(_PortalPrimitive, BaseEstimatorV2):
    """A ``BaseEstimatorV2`` whose every ``run()`` is one portal estimator job (module docstring).
    ``options``: ``default_precision`` (else the portal's default, 1/sqrt(the profile's shots));
    other keys go to the job as its ``options``."""

    def run(self, pubs: Iterable[EstimatorPubLike], *, precision: float | None = None) -> PortalPrimitiveJob:
        if precision is None:
            precision = self.options.get("default_precision")
        coerced = [EstimatorPub.coerce(pub, precision) for pub in pubs]
        for pub in coerced:
            pub.validate()
        circuits = []
        for pub in coerced:
            entry = {
                "qpy": qpy_text(pub.circuit),
                "observables": _observables(pub),
                **_values(pub.circuit, pub.parameter_values),
            }
            if pub.precision is not None:
                entry["precision"] = float(pub.precision)
            circuits.append(entry)
        job_id = self._submit("estimator", circuits, shots=None, memory=False)
        return PortalPrimitiveJob(self.client, job_id, "estimator", coerced)


def _values(circuit: QuantumCircuit, bindings: Any) -> dict[str, Any]:
    """A PUB's parameter values as the portal takes them: ``(*shape, num_parameters)`` in
    ``circuit.parameters`` order (none for a circuit without parameters)."""
    if not circuit.num_parameters:
        return {}
    array = bindings.as_array(circuit.parameters)
    return {"parameter_values": np.asarray(array, dtype=float).tolist()}


def _observables(pub: EstimatorPub) -> Any:
    """The PUB's observables array as nested lists of ``{label: coeff}`` objects."""
    nested = pub.observables.tolist()

    def plain(item: Any) -> Any:
        if isinstance(item, dict):
            return {str(label): float(np.real(coeff)) for label, coeff in item.items()}
        return [plain(part) for part in item]

    return plain(nested)


class PortalPrimitiveJob(BasePrimitiveJob[PrimitiveResult, JobStatus]):
    """A portal job run by :class:`PortalSampler` or :class:`PortalEstimator`; ``job_id()`` is the
    portal's job id.  ``result()`` waits for the job (long-polling the portal) and builds the
    ``PrimitiveResult`` once."""

    def __init__(self, client: PortalClient, job_id: str, primitive: str, pubs: list[Any], **kwargs: Any):
        super().__init__(job_id, **kwargs)
        self._client = client
        self._primitive = primitive
        self._pubs = pubs
        self._result: PrimitiveResult | None = None
        self._last_status: JobStatus | None = None
        self._lock = threading.Lock()

    def result(self, timeout: float | None = None) -> PrimitiveResult:
        with self._lock:
            if self._result is None:
                job = self._client.wait(self._job_id, timeout=timeout)
                self._last_status = _STATUS.get(job.get("status"), JobStatus.RUNNING)
                if job.get("status") != "done":
                    raise RemoteJobFailed(
                        f"portal job {self._job_id} {job.get('status')}: {job.get('error') or 'no result'}"
                    )
                items = self._client.results(self._job_id, memory=self._primitive == "sampler")
                build = _sampler_result if self._primitive == "sampler" else _estimator_result
                pub_results = [build(pub, item) for pub, item in zip(self._pubs, items, strict=True)]
                self._result = PrimitiveResult(pub_results, metadata={"version": 2, "portal_job": self._job_id})
            return self._result

    def status(self) -> JobStatus:
        if self._last_status in _FINAL:
            return self._last_status
        self._last_status = _STATUS.get(self._client.job(self._job_id).get("status"), JobStatus.RUNNING)
        return self._last_status

    def done(self) -> bool:
        return self.status() == JobStatus.DONE

    def running(self) -> bool:
        return self.status() == JobStatus.RUNNING

    def cancelled(self) -> bool:
        return self.status() == JobStatus.CANCELLED

    def in_final_state(self) -> bool:
        return self.status() in _FINAL

    def cancel(self) -> None:
        self._client.cancel(self._job_id)


def _sampler_result(pub: SamplerPub, item: dict[str, Any]) -> SamplerPubResult:
    """One circuit's stored shots as the sampler's DataBin: a BitArray per classical register,
    named after it, of shape ``pub.shape`` (the portal joins registers first one rightmost)."""
    shots = int(item["shots"])
    memory = item.get("memory")
    if memory is None:
        raise RemoteJobFailed(f"circuit {item.get('index')}: the portal kept no shots (memory)")
    width = len(memory[0]) if memory else pub.circuit.num_clbits
    shape = tuple(item.get("shape") or ()) or pub.shape
    if len(memory) != shots * math.prod(shape):
        raise RemoteJobFailed(
            f"circuit {item.get('index')}: {len(memory)} shots stored, expected {shots} for each of "
            f"{math.prod(shape)} bindings"
        )
    joined = BitArray.from_samples(memory, width) if memory else BitArray(np.zeros((0, 1), np.uint8), width)
    joined = BitArray(joined.array.reshape(*shape, shots, joined.array.shape[-1]), width)
    registers: dict[str, BitArray] = {}
    start = 0
    for register in pub.circuit.cregs:
        registers[register.name] = joined.slice_bits(list(range(start, start + register.size)))
        start += register.size
    data = DataBin(**registers, shape=shape)
    metadata = {"shots": shots, "circuit_metadata": pub.circuit.metadata, "portal": item.get("metadata") or {}}
    return SamplerPubResult(data, metadata=metadata)


def _estimator_result(pub: EstimatorPub, item: dict[str, Any]) -> PubResult:
    shape = tuple(item["shape"]) if item.get("shape") is not None else pub.shape
    evs = np.asarray(item["evs"], dtype=float).reshape(shape)
    stds = np.asarray(item["stds"], dtype=float).reshape(shape)
    data = DataBin(evs=evs, stds=stds, shape=shape)
    precision = pub.precision if pub.precision is not None else (float(stds.flat[0]) if stds.size else None)
    metadata = {"target_precision": precision, "circuit_metadata": pub.circuit.metadata}
    return PubResult(data, metadata={**metadata, "portal": item.get("metadata") or {}})
