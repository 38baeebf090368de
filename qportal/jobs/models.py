"""Jobs, their circuits with results, and the append-only event history."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models

from qportal.jobs import stored_results


class JobStatus(models.TextChoices):
    QUEUED = "queued"
    SUBMITTING = "submitting"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"


TERMINAL = frozenset({JobStatus.DONE, JobStatus.FAILED, JobStatus.CANCELLED})
ACTIVE = frozenset({JobStatus.SUBMITTING, JobStatus.RUNNING})


class SessionStatus(models.TextChoices):
    OPEN = "open"  # created, no job yet
    ACTIVE = "active"  # has taken jobs
    CLOSED = "closed"  # closed by a person: no new jobs; its jobs finish
    EXPIRED = "expired"  # max_time or the idle timeout passed: no new jobs
    CANCELLED = "cancelled"  # its unfinished jobs and the IBM session were cancelled


SESSION_TAKES_JOBS = frozenset({SessionStatus.OPEN, SessionStatus.ACTIVE})


class RuntimeSession(models.Model):
    """A portal session or batch: jobs that run inside one qiskit-ibm-runtime ``Session``/``Batch``
    (``qportal.jobs.sessions``).  ``ibm_session_id`` is saved the moment IBM returns it."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    team = models.ForeignKey("accounts.Team", on_delete=models.CASCADE, related_name="runtime_sessions")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="runtime_sessions"
    )
    # A profile with jobs cannot be deleted (Job.profile); one whose sessions hold none takes them along.
    profile = models.ForeignKey("profiles.ExecutorProfile", on_delete=models.CASCADE, related_name="runtime_sessions")
    mode = models.CharField(max_length=10, default="session")  # "session" | "batch"
    name = models.CharField(max_length=200, blank=True)
    max_time = models.PositiveIntegerField(null=True, blank=True, help_text="seconds the session may stay open")
    idle_timeout = models.PositiveIntegerField(help_text="seconds without a job before it expires")
    status = models.CharField(max_length=10, choices=SessionStatus.choices, default=SessionStatus.OPEN)
    backend = models.CharField(max_length=100, blank=True)
    ibm_session_id = models.CharField(max_length=100, blank=True)
    created = models.DateTimeField(auto_now_add=True)
    last_activity = models.DateTimeField()
    closing_at = models.DateTimeField(null=True, blank=True, help_text="when it stopped taking jobs")
    closed_at = models.DateTimeField(null=True, blank=True, help_text="when its jobs and the IBM session ended")

    class Meta:
        ordering = ["-created"]
        indexes = [models.Index(fields=["team", "-created"]), models.Index(fields=["status"])]

    @property
    def takes_jobs(self) -> bool:
        return self.status in SESSION_TAKES_JOBS

    def __str__(self) -> str:
        return f"{self.name or self.id} ({self.mode}, {self.status})"


class Calibration(models.Model):
    """A backend's calibration (``executors.device.calibration_of``), stored once however many jobs
    ran on it (``digest`` is the sha256 of its canonical JSON); kept after the device is retired."""

    backend = models.CharField(max_length=100)
    calibrated_at = models.DateTimeField(null=True, blank=True)
    digest = models.CharField(max_length=64, unique=True)
    data = models.JSONField()
    first_seen = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [models.Index(fields=["backend", "-first_seen"])]

    def __str__(self) -> str:
        return f"{self.backend} calibrated {self.calibrated_at}"


class Job(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    # Indexed by (team, -created) below; the foreign key's own index would only repeat it.
    team = models.ForeignKey("accounts.Team", on_delete=models.CASCADE, related_name="jobs", db_index=False)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="jobs")
    profile = models.ForeignKey("profiles.ExecutorProfile", on_delete=models.PROTECT, related_name="jobs")
    name = models.CharField(max_length=200, blank=True)
    tags = models.JSONField(default=list, blank=True)
    # The tag filter on SQLite: LIKE '%|tag|%' (PostgreSQL asks ``tags`` instead: migration 0007).
    tag_index = models.CharField(max_length=1200, blank=True, help_text="|tag1|tag2| for filtering")
    primitive = models.CharField(max_length=10, default="sampler")
    shots = models.PositiveIntegerField()
    # Sampler jobs: keep every shot's outcome (JobCircuit.memory_blob), not only the counts.
    memory = models.BooleanField(default=False)
    num_circuits = models.PositiveIntegerField(default=0)
    circuits_done = models.PositiveIntegerField(default=0)
    rerun_of = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="reruns")
    session = models.ForeignKey(RuntimeSession, null=True, blank=True, on_delete=models.SET_NULL, related_name="jobs")

    status = models.CharField(max_length=12, choices=JobStatus.choices, default=JobStatus.QUEUED)
    sub_status = models.CharField(max_length=100, blank=True)
    error = models.TextField(blank=True)
    cancel_requested = models.BooleanField(default=False)

    created = models.DateTimeField(auto_now_add=True, db_index=True)
    submitted_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    not_before = models.DateTimeField(null=True, blank=True, help_text="Retry backoff: not claimed before")
    execution_time = models.FloatField(null=True, blank=True)
    # Cluster profiles: the member profile that ran the job (blank for any other kind).
    ran_on = models.CharField(max_length=100, blank=True)
    # Set when the job is put away: hidden from the list and the API's list unless asked for.
    archived_at = models.DateTimeField(null=True, blank=True)

    attempt = models.PositiveIntegerField(default=0)
    # Times the job was taken over from a worker whose lease expired (it died or stalled mid-job).
    recoveries = models.PositiveIntegerField(default=0)
    worker_id = models.CharField(max_length=100, blank=True)
    lease_until = models.DateTimeField(null=True, blank=True, db_index=True)
    submit_key = models.CharField(max_length=64, blank=True)
    remote_ids = models.JSONField(default=list, blank=True)
    last_seq = models.PositiveIntegerField(default=0)
    # The client's Idempotency-Key: a retried submission with the same key returns this job.
    # NULL when none was sent (written as a literal: no query parameter on the hot path).
    idempotency_key = models.CharField(max_length=100, null=True, blank=True)
    # The job's own primitive options as sent (the profile's apply beneath them: executors.job_options),
    # and those the simulator that ran it could not apply, by dotted path.
    options = models.JSONField(default=dict, blank=True)
    ignored_options = models.JSONField(default=list, blank=True)
    # What the job ran against (qportal.jobs.provenance): the backend's calibration, shared by
    # every job run on it, and the rest (transpiled circuits, layout, versions, timings, choices).
    calibration = models.ForeignKey(Calibration, null=True, blank=True, on_delete=models.PROTECT, related_name="jobs")
    provenance = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-created"]
        constraints = [
            models.UniqueConstraint(fields=["created_by", "idempotency_key"], name="jobs_job_idempotency_key")
        ]
        # The status index leads the claim's and the list's status filter, in created order; on
        # PostgreSQL it also holds team and archived_at, so a status's count reads it alone (db_index=True
        # would add a LIKE-prefix one there, never used).  The search indexes Django cannot declare
        # for every database: migration 0007.
        indexes = [
            models.Index(fields=["team", "-created"]),
            models.Index(
                fields=["status", "-created", "-id"], include=["team", "archived_at"], name="jobs_job_status_created"
            ),
        ]

    @property
    def is_terminal(self) -> bool:
        return self.status in TERMINAL

    @property
    def backend_choice(self) -> dict | None:
        """A profile whose backend is "auto": the backend chosen, the criterion and why."""
        choice = (self.provenance or {}).get("choice")
        return {key: choice.get(key) for key in ("backend", "criterion", "reason")} if choice else None

    def __str__(self) -> str:
        return f"{self.name or self.id} ({self.status})"


class CircuitManager(models.Manager):
    """Reads leave out the stored shots (``memory_blob``: up to hundreds of kB a circuit); a reader
    that wants them asks with ``.defer(None)`` (``services.result_rows(memory=True)``)."""

    def get_queryset(self) -> models.QuerySet:
        return super().get_queryset().defer("memory_blob")


class JobCircuit(models.Model):
    job = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="circuits", db_index=False)  # see Meta
    index = models.PositiveIntegerField()
    name = models.CharField(max_length=200, blank=True)
    source_format = models.CharField(max_length=10)
    source = models.TextField()
    num_qubits = models.PositiveIntegerField()
    observables = models.JSONField(null=True, blank=True)
    parameter_values = models.JSONField(null=True, blank=True)
    # A PUB's own shots (sampler) or precision (estimator); null: the job's (executors.sweeps).
    pub_shots = models.PositiveIntegerField(null=True, blank=True)
    precision = models.FloatField(null=True, blank=True)

    done = models.BooleanField(default=False)
    # The distribution once, packed (``stored_results``); probabilities and register counts derived.
    counts_blob = models.BinaryField(null=True, blank=True)
    shots = models.PositiveIntegerField(null=True, blank=True)
    outcomes = models.PositiveIntegerField(null=True, blank=True, help_text="distinct outcomes counted")
    top_outcome = models.TextField(blank=True)
    top_count = models.PositiveIntegerField(null=True, blank=True)
    registers = models.JSONField(null=True, blank=True, help_text="[[name, bits], ...] in join order")
    given_register_counts = models.JSONField(null=True, blank=True, help_text="only when not derivable")
    exact_probabilities = models.JSONField(null=True, blank=True, help_text="only for a job without counts")
    evs = models.JSONField(null=True, blank=True)
    stds = models.JSONField(null=True, blank=True)
    metadata = models.JSONField(null=True, blank=True)
    # A job with memory: every shot's outcome, packed and compressed (``stored_results.pack_memory``).
    memory_blob = models.BinaryField(null=True, blank=True)
    # A PUB of the sweep form: its shape (evs/stds above flattened in C order); a sampler sweep's
    # counts per binding, in the same order (``counts`` is their total).
    shape = models.JSONField(null=True, blank=True)
    binding_counts = models.JSONField(null=True, blank=True)

    objects = CircuitManager()

    class Meta:
        ordering = ["index"]
        # Its index, led by job, serves every lookup by job: the foreign key has none of its own.
        constraints = [models.UniqueConstraint(fields=["job", "index"], name="unique_circuit_index")]

    @property
    def counts(self) -> dict[str, int] | None:
        if not hasattr(self, "_counts"):
            self._counts = stored_results.unpack_counts(self.counts_blob)
        return self._counts

    @counts.setter
    def counts(self, value: dict[str, int] | None) -> None:
        self.counts_blob = stored_results.pack_counts(value) if value is not None else None
        self._counts = value

    @property
    def probabilities(self) -> dict[str, float] | None:
        if self.counts_blob is None:
            return self.exact_probabilities
        return stored_results.derive_probabilities(self.counts, self.shots)

    @property
    def has_memory(self) -> bool:
        """Whether every shot's outcome is stored (read from ``memory_kept`` when the query
        annotated it, so the blob itself need not be read)."""
        if "memory_kept" in self.__dict__:
            return bool(self.__dict__["memory_kept"])
        return self.memory_blob is not None

    @property
    def memory(self) -> list[str] | None:
        """Each shot's bitstring in shot order, when the row was read with its shots (the manager
        leaves them out); None otherwise, and for a circuit that kept none."""
        if "memory_blob" in self.get_deferred_fields():
            return None
        return stored_results.memory_bitstrings(self.memory_blob)

    @property
    def register_counts(self) -> dict[str, dict[str, int]] | None:
        if self.given_register_counts is not None:
            return self.given_register_counts
        return stored_results.derive_register_counts(self.counts, self.registers)


class JobEvent(models.Model):
    job = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="events", db_index=False)  # see Meta
    seq = models.PositiveIntegerField()
    kind = models.CharField(max_length=30)
    status = models.CharField(max_length=12)
    sub_status = models.CharField(max_length=100, blank=True)
    message = models.TextField(blank=True)
    data = models.JSONField(default=dict, blank=True)
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["job", "seq"]
        # Its index, led by job, serves every lookup by job: the foreign key has none of its own.
        constraints = [models.UniqueConstraint(fields=["job", "seq"], name="unique_event_seq")]


from qportal.jobs.usage_models import Budget, BudgetHold, BudgetWindow, Period, UsageRecord  # noqa: E402, F401
