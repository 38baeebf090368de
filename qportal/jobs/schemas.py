"""API shapes for jobs. Output schemas list their fields explicitly."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from ninja import Field, Schema

from qportal.jobs import usage_events
from qportal.jobs.stored_results import shaped


class CircuitIn(Schema):
    """One circuit, or a whole V2 PUB: its own parameter values (an array), observables (an
    array) and shots or precision (README, "Parameter sweeps")."""

    qasm: str | None = Field(None, description="OpenQASM 2 or 3 source")
    qpy: str | None = Field(None, description="base64-encoded QPY holding one circuit")
    name: str | None = None
    parameter_values: Any = Field(
        None,
        description="an N-dimensional array (nested lists), last axis the parameters in "
        "`circuit.parameters` order, or {parameter name: array}; broadcast as Qiskit's BindingsArray",
    )
    observables: Any = Field(
        None,
        description="estimator: an array of observables (each a Pauli label, {label: coeff} or "
        "[label, coeff]), broadcast with parameter_values",
    )
    shots: int | None = Field(None, description="sampler: this PUB's shots (each binding's)")
    precision: float | None = Field(None, description="estimator: this PUB's target precision")


class JobIn(Schema):
    profile: str | None = Field(
        None, description="Executor profile name, e.g. `local` or `fake_manila`; default: the session's"
    )
    circuits: list[CircuitIn]
    shots: int | None = Field(None, description="1..100000; default: the profile's shots")
    primitive: Literal["sampler", "estimator"] = "sampler"
    observables: list[Any] | None = Field(
        None, description="Estimator: one entry per circuit, a Pauli string, a list of them, or [[pauli, coeff], ...]"
    )
    parameter_values: list[list[float] | None] | None = None
    name: str = ""
    tags: list[str] = []
    team: int | None = Field(None, description="Team id; default: the profile's team or your personal team")
    memory: bool = Field(
        False,
        description="Sampler only: keep every shot's outcome, in shot order, as well as the counts "
        "(read it from `/results?memory=true` or the npz download)",
    )
    options: dict[str, Any] = Field(
        {},
        description="Primitive options for this job (any field of qiskit-ibm-runtime's SamplerOptions / "
        "EstimatorOptions, plus the portal's `seed` and `optimization_level`), over the profile's: the job's win",
    )
    session: UUID | None = Field(None, description="A portal session's id (`POST /api/v1/sessions`): run in it")
    dry_run: bool = Field(
        False, description="true: validate everything and answer the QPU-seconds estimate; nothing is stored"
    )


class EventOut(Schema):
    seq: int
    kind: str
    status: str
    sub_status: str
    message: str
    data: dict
    created: datetime


class CircuitSummaryOut(Schema):
    """A circuit in a job's detail: what it is and what came out, without the distribution
    (``GET /api/v1/jobs/{id}/results`` pages the stored results)."""

    index: int
    name: str
    num_qubits: int
    done: bool
    shots: int | None = None
    outcomes: int | None = Field(None, description="sampler: distinct outcomes counted")
    top_outcome: str = Field(..., description="sampler: the most frequent bitstring (blank before results)")
    top_count: int | None = Field(None, description="sampler: its count (a sweep: over all its bindings)")
    evs: list[float] | None = None
    stds: list[float] | None = None
    shape: list[int] | None = Field(
        None, description="a PUB of the sweep form: its shape (`shots` is each binding's; `evs` flat in C order)"
    )


class CircuitResultOut(Schema):
    index: int
    name: str
    num_qubits: int
    done: bool
    shots: int | None = None
    counts: dict[str, int] | None = None
    register_counts: dict[str, dict[str, int]] | None = None
    probabilities: dict[str, float] | None = None
    shape: list[int] | None = Field(
        None, description="a PUB of the sweep form: its shape; `evs`/`stds` are nested arrays of it"
    )
    evs: Any = Field(None, description="flat list (one per observable), or nested to `shape`")
    stds: Any = None
    binding_counts: Any = Field(
        None, description="a sampler sweep: each binding's counts, nested to `shape` (`counts` is their total)"
    )
    metadata: dict | None = None
    has_memory: bool = Field(False, description="every shot's outcome is stored (a job submitted with memory)")

    @staticmethod
    def resolve_evs(obj) -> Any:
        return shaped(obj.evs, obj.shape)

    @staticmethod
    def resolve_stds(obj) -> Any:
        return shaped(obj.stds, obj.shape)

    @staticmethod
    def resolve_binding_counts(obj) -> Any:
        if obj.binding_counts is None or obj.shape is None:
            return None
        return shaped(obj.binding_counts, obj.shape)

    memory: list[str] | None = Field(
        None,
        description="with `?memory=true`: one bitstring per shot, in shot order (Qiskit's "
        "`BitArray.get_bitstrings()`; registers joined as in `counts`); null otherwise",
    )


class JobOut(Schema):
    id: UUID
    name: str
    status: str
    sub_status: str
    error: str
    team: int = Field(..., alias="team_id")
    team_name: str = Field(..., alias="team.name")
    profile: str = Field(..., alias="profile.name")
    backend: str = Field(..., alias="profile.backend")
    submitted_by: str | None = None
    primitive: str
    shots: int
    memory: bool = Field(..., description="every shot's outcome is kept")
    tags: list[str]
    num_circuits: int
    circuits_done: int
    attempt: int
    remote_ids: list[str]
    cancel_requested: bool
    rerun_of: UUID | None = Field(None, alias="rerun_of_id")
    created: datetime
    submitted_at: datetime | None
    started_at: datetime | None
    finished_at: datetime | None
    execution_time: float | None
    ran_on: str = Field(..., description="cluster profiles: the member profile that ran the job")
    session: UUID | None = Field(None, alias="session_id", description="the portal session it ran in")
    archived_at: datetime | None
    last_seq: int
    options: dict = Field(..., description="the job's own primitive options, as sent (the profile's apply beneath)")
    ignored_options: list[str] = Field(
        ..., description="options the backend that ran the job could not apply (local and fake profiles)"
    )
    backend_choice: dict | None = Field(
        None, description='a profile whose backend is "auto": {"backend", "criterion", "reason"}'
    )

    @staticmethod
    def resolve_submitted_by(obj) -> str | None:
        return obj.created_by.get_username() if obj.created_by_id else None


class JobDetailOut(JobOut):
    events: list[EventOut]
    results: list[CircuitSummaryOut] = Field(
        ..., description="one summary per circuit; the results themselves: `GET /api/v1/jobs/{id}/results`"
    )
    usage: dict[str, float] | None = Field(
        None,
        description="once finished: `qpu_seconds` (IBM), `wall_seconds` and `cpu_seconds` (simulators), "
        "`estimated_qpu_seconds` (ours) and `ibm_estimated_qpu_seconds`, whichever apply",
    )

    @staticmethod
    def resolve_usage(obj) -> dict | None:
        return usage_events.from_events(obj.events.all())

    @staticmethod
    def resolve_events(obj) -> list:
        return list(obj.events.all())

    @staticmethod
    def resolve_results(obj) -> list:
        return list(obj.circuits.all())


class JobFilters(Schema):
    status: str | None = None
    profile: str | None = None
    tag: str | None = None
    team: int | None = None
    q: str | None = Field(
        None, description="search in job names and tags; 4 or more hex digits also match the start of a job id"
    )
    sort: str | None = Field(
        None,
        description="the order: `created`, `name`, `status`, `profile`, `creator`, `team` or `circuits`, "
        "`-` first for descending; default `-created` (newest first)",
    )
    created_after: datetime | None = Field(None, description="a date or date-time: created at or after it")
    created_before: datetime | None = Field(None, description="a date or date-time: created before it")
    archived: bool = Field(False, description="true: the archived jobs (hidden otherwise)")
    session: UUID | None = Field(None, description="a portal session's id: its jobs")
