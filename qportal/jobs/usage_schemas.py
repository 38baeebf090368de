"""API shapes of QPU budgets, a dry run's estimate and a budget's refusal (the 402)."""

from __future__ import annotations

from datetime import datetime

from ninja import Field, Schema


class BudgetOut(Schema):
    id: int
    team: int
    user: str | None = Field(..., description="the member it is for; null: the whole team")
    period: str
    seconds: float
    period_start: datetime = Field(..., description="the current period's start (UTC)")
    resets_at: datetime
    held_seconds: float = Field(..., description="estimates of jobs not finished yet")
    used_seconds: float = Field(..., description="what finished jobs used")
    remaining_seconds: float


class EstimatedCircuitOut(Schema):
    index: int
    shot_seconds: float = Field(..., description="one shot: the scheduled circuit plus rep_delay")
    runs: int = Field(..., description="parameter bindings (times observable terms for an estimator)")
    seconds: float = Field(..., description="shots x runs x shot_seconds")


class ComputedFromOut(Schema):
    backend: str
    durations_from: str = Field(..., description="`target` (the backend's or its fake twin's) or `defaults`")
    shots: int
    rep_delay_seconds: float
    job_overhead_seconds: float
    one_qubit_gate_seconds: float
    two_qubit_gate_seconds: float
    readout_seconds: float
    circuits: list[EstimatedCircuitOut]


class DryRunOut(Schema):
    """``POST /jobs`` with ``"dry_run": true`` (``budgets.dry_run_answer``)."""

    dry_run: bool
    valid: bool
    team: int
    profile: str
    kind: str
    backend: str
    num_circuits: int
    shots: int | None
    counts_against_budget: bool = Field(..., description="true for IBM profiles: budgets hold the estimate")
    estimated_qpu_seconds: float | None = Field(..., description="README, Usage and budgets: Estimates")
    computed_from: ComputedFromOut | None
    budgets: list[BudgetOut] = Field(..., description="the budgets that apply to you in this team")


class BudgetRefusalOut(Schema):
    """402: the job's estimate does not fit a budget or the instance's remaining seconds."""

    detail: str = Field(..., description="what remains and when it resets")
    remaining_qpu_seconds: float
    resets_at: datetime | None
    estimated_qpu_seconds: float
