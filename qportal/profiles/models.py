"""Team-shared executor profiles: named recipes the job manager turns into executors."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from executors.base import ExecutorSpec


class ProfileKind(models.TextChoices):
    LOCAL = "local", "Local Aer simulator"
    FAKE = "fake", "IBM fake backend (noise model, offline)"
    IBM_CLOUD = "ibm_cloud", "IBM Quantum cloud"
    PENNYLANE = "pennylane", "PennyLane device"
    CLUSTER = "cluster", "Cluster of profiles"


class ExecutionMode(models.TextChoices):
    JOB = "job"
    BATCH = "batch"
    SESSION = "session"


class ExecutorProfile(models.Model):
    """``team`` is null for the built-in profiles every user sees."""

    team = models.ForeignKey("accounts.Team", null=True, blank=True, on_delete=models.CASCADE, related_name="profiles")
    name = models.SlugField(max_length=64)
    description = models.CharField(max_length=300, blank=True)
    kind = models.CharField(max_length=20, choices=ProfileKind.choices)
    backend = models.CharField(max_length=100, blank=True)
    shots = models.PositiveIntegerField(default=1024)
    options = models.JSONField(default=dict, blank=True)
    mode = models.CharField(max_length=10, choices=ExecutionMode.choices, default=ExecutionMode.JOB)
    max_time = models.PositiveIntegerField(null=True, blank=True, help_text="Session/batch max_time in seconds")
    single_job = models.BooleanField(default=True, help_text="All circuits as PUBs of one primitive call")
    local_transpile = models.BooleanField(default=True)
    credential = models.ForeignKey("accounts.IBMCredential", null=True, blank=True, on_delete=models.PROTECT)
    members = models.JSONField(default=list, blank=True, help_text="Cluster: names of member profiles")
    selector = models.CharField(max_length=20, default="cyclic", blank=True)
    max_qubits = models.PositiveIntegerField(null=True, blank=True, help_text="Cached from the backend")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created = models.DateTimeField(auto_now_add=True)
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["team", "name"], name="unique_team_profile"),
            models.UniqueConstraint(
                fields=["name"], condition=models.Q(team__isnull=True), name="unique_builtin_profile"
            ),
        ]
        ordering = ["name"]

    @property
    def builtin(self) -> bool:
        return self.team_id is None

    def __str__(self) -> str:
        return self.name

    def to_spec(self, *, with_secrets: bool = False, resolve_member=None) -> ExecutorSpec:
        """The executor core's view of this profile. Secrets are decrypted only when asked (worker)."""
        credential = self.credential.to_spec() if with_secrets and self.credential_id else None
        members = []
        if self.kind == ProfileKind.CLUSTER and resolve_member is not None:
            members = [resolve_member(name).to_spec(with_secrets=with_secrets) for name in self.members]
        return ExecutorSpec(
            kind=self.kind,
            backend=self.backend,
            shots=self.shots,
            options=dict(self.options or {}),
            mode=self.mode,
            max_time=self.max_time,
            single_job=self.single_job,
            local_transpile=self.local_transpile,
            credential=credential,
            members=members,
            selector=self.selector or "cyclic",
        )
