"""Subscriptions, the deliveries made for them, each attempt, and the event log's read mark."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone

from qportal.accounts import vault

# Notification events and the job event kinds they come from.  Another source (a portal session
# closing: ``session.closed``) adds its name here and its own scan with its own ``ReadMark``.
JOB_EVENTS = {"done": "job.done", "failed": "job.failed", "cancelled": "job.cancelled"}
EVENTS = tuple(JOB_EVENTS.values())
TEST_EVENT = "test"


class Scope(models.TextChoices):
    MINE = "mine"  # the jobs the subscriber submitted, in any of their teams
    TEAM = "team"  # every job of one team


class Channel(models.TextChoices):
    EMAIL = "email"
    WEBHOOK = "webhook"


class Format(models.TextChoices):
    JSON = "json"
    SLACK = "slack"  # {"text": ...}


class Subscription(models.Model):
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="subscriptions")
    scope = models.CharField(max_length=4, choices=Scope.choices, default=Scope.MINE)
    team = models.ForeignKey("accounts.Team", null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    channel = models.CharField(max_length=7, choices=Channel.choices)
    url = models.CharField(max_length=2000, blank=True)
    secret_encrypted = models.TextField(blank=True, editable=False)
    format = models.CharField(max_length=5, choices=Format.choices, default=Format.JSON)
    events = models.JSONField(default=list)
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created", "-id"]

    def set_secret(self, secret: str) -> None:
        self.secret_encrypted = vault.encrypt(secret)

    def decrypt_secret(self) -> str:
        """Only the sender calls this, to sign."""
        return vault.decrypt(self.secret_encrypted)

    @property
    def url_hint(self) -> str:
        """The URL's origin and its last four characters: a Slack-style URL is itself a secret."""
        from urllib.parse import urlsplit

        if not self.url:
            return ""
        parts = urlsplit(self.url)
        rest = self.url[len(f"{parts.scheme}://{parts.netloc}") :]
        return f"{parts.scheme}://{parts.netloc}" + (f"/…{rest[-4:]}" if len(rest) > 1 else "/")

    def __str__(self) -> str:
        return f"{self.channel} {self.url_hint or self.user}"


class DeliveryStatus(models.TextChoices):
    PENDING = "pending"  # due at next_attempt_at
    SENDING = "sending"  # claimed until lease_until; an expired lease is due again
    DELIVERED = "delivered"
    FAILED = "failed"  # gave up after the last retry, or the target was refused


class Delivery(models.Model):
    """One event for one subscription; made once (unique per event and subscription), sent at least once."""

    subscription = models.ForeignKey(Subscription, on_delete=models.CASCADE, related_name="deliveries")
    # The JobEvent it comes from (no foreign key: the log outlives a deleted job); null for a test.
    event_id = models.BigIntegerField(null=True, blank=True)
    event = models.CharField(max_length=30)
    job_id = models.UUIDField(null=True, blank=True)
    payload = models.JSONField(default=dict, help_text="the job as it ended: what every attempt sends")
    status = models.CharField(max_length=9, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    lease_until = models.DateTimeField(null=True, blank=True)
    last_status_code = models.PositiveIntegerField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True)
    created = models.DateTimeField(auto_now_add=True)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["event_id", "subscription"], name="notifications_one_delivery_per_event")
        ]
        indexes = [
            models.Index(fields=["status", "next_attempt_at"], name="notifications_due"),
            models.Index(fields=["status", "lease_until"], name="notifications_lease"),
        ]


class Attempt(models.Model):
    """One try of a delivery, written when it is claimed and completed when it ends.

    An attempt left without ``finished`` was interrupted (its worker died)."""

    delivery = models.ForeignKey(Delivery, on_delete=models.CASCADE, related_name="attempt_log")
    number = models.PositiveIntegerField()
    worker = models.CharField(max_length=100, blank=True)
    started = models.DateTimeField()
    finished = models.DateTimeField(null=True, blank=True)
    duration_ms = models.PositiveIntegerField(null=True, blank=True)
    status_code = models.PositiveIntegerField(null=True, blank=True)
    error = models.CharField(max_length=500, blank=True)
    ok = models.BooleanField(default=False)

    class Meta:
        ordering = ["delivery", "number"]
        constraints = [models.UniqueConstraint(fields=["delivery", "number"], name="notifications_attempt_number")]


class ReadMark(models.Model):
    """How far a dispatcher has read an event log (``JobEvent`` ids): every row up to ``last_id``
    was turned into deliveries, in the transaction that moved the mark."""

    name = models.CharField(max_length=30, unique=True)
    last_id = models.BigIntegerField(default=0)
    updated = models.DateTimeField(auto_now=True)
