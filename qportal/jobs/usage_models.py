"""What jobs used, and the team's QPU budgets (imported by ``qportal.jobs.models``).

``UsageRecord``: one row per finished job, written in the transaction that finishes it (unique by
job, so never twice); it names the team, person, profile and backend itself, so totals outlive a
deleted job.  ``Budget``: QPU seconds per period for a team (``user`` null) or one of its members.
``BudgetWindow``: one budget's period (``start``, UTC): milliseconds ``held`` by unfinished jobs
and ``used`` by finished ones.  ``BudgetHold``: what one job reserved in one window, settled once.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q


class Period(models.TextChoices):
    DAY = "day"
    WEEK = "week"
    MONTH = "month"


class UsageRecord(models.Model):
    job_id = models.UUIDField(unique=True)  # no foreign key: the record stays when its job is deleted
    team = models.ForeignKey("accounts.Team", on_delete=models.CASCADE, related_name="usage_records")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    username = models.CharField(max_length=150, blank=True)
    profile = models.CharField(max_length=100)
    backend = models.CharField(max_length=100, blank=True)
    kind = models.CharField(max_length=20)
    status = models.CharField(max_length=12)
    qpu_seconds = models.FloatField(null=True, blank=True)
    wall_seconds = models.FloatField(null=True, blank=True)
    cpu_seconds = models.FloatField(null=True, blank=True)
    estimated_qpu_seconds = models.FloatField(null=True, blank=True, help_text="ours, reserved at submission")
    ibm_estimated_qpu_seconds = models.FloatField(null=True, blank=True, help_text="IBM's usage_estimation")
    finished = models.DateTimeField()

    class Meta:
        indexes = [models.Index(fields=["team", "finished"], name="jobs_usage_team_finished")]


class Budget(models.Model):
    team = models.ForeignKey("accounts.Team", on_delete=models.CASCADE, related_name="budgets")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    period = models.CharField(max_length=5, choices=Period.choices)
    seconds = models.FloatField()
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["team", "user"], condition=Q(user__isnull=False), name="jobs_budget_member"
            ),
            models.UniqueConstraint(fields=["team"], condition=Q(user__isnull=True), name="jobs_budget_team"),
        ]


class BudgetWindow(models.Model):
    budget = models.ForeignKey(Budget, on_delete=models.CASCADE, related_name="windows", db_index=False)
    start = models.DateTimeField()
    # Milliseconds, whole: sums stay exact, so a budget that fits ten estimates takes exactly ten.
    held_ms = models.BigIntegerField(default=0)
    used_ms = models.BigIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["budget", "start"], name="jobs_budget_window")]


class BudgetHold(models.Model):
    job_id = models.UUIDField(db_index=True)  # no foreign key: a hold outlives nothing it must settle
    window = models.ForeignKey(BudgetWindow, on_delete=models.CASCADE, related_name="holds")
    held_ms = models.BigIntegerField()
    settled = models.BooleanField(default=False)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["job_id", "window"], name="jobs_budget_hold")]
