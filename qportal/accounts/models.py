"""Teams, memberships with roles, API keys and encrypted IBM credentials."""

from __future__ import annotations

import hashlib
import secrets

from django.conf import settings
from django.db import models

from qportal.accounts import vault


class Team(models.Model):
    name = models.CharField(max_length=100)
    personal = models.BooleanField(default=False, help_text="Created automatically for one user.")
    created = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.name


class Role(models.TextChoices):
    OWNER = "owner"
    MEMBER = "member"
    VIEWER = "viewer"


WRITE_ROLES = (Role.OWNER, Role.MEMBER)  # may change a team's jobs, profiles and credentials


class Membership(models.Model):
    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=10, choices=Role.choices, default=Role.MEMBER)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["team", "user"], name="unique_membership")]

    @property
    def can_write(self) -> bool:
        return self.role in WRITE_ROLES


API_KEY_PREFIX = "qp_"


def hash_api_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


class ApiKey(models.Model):
    """A script's credential: ``qp_<8-char lookup id>_<secret>``; only the SHA-256 is stored.

    A key with a ``team`` acts for its user on that team alone (``access.key_team_id``); a
    ``read_only`` key is refused every write; a revoked key keeps its row (``revoked_at``), so the
    list and the audit trail still say what it was and when it stopped."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_keys")
    name = models.CharField(max_length=100, default="default")
    lookup = models.CharField(max_length=16, unique=True)
    hashed = models.CharField(max_length=64)
    created = models.DateTimeField(auto_now_add=True)
    last_used = models.DateTimeField(null=True, blank=True)
    expires = models.DateTimeField(null=True, blank=True, help_text="blank: never")
    read_only = models.BooleanField(default=False)
    team = models.ForeignKey(
        Team, null=True, blank=True, on_delete=models.CASCADE, related_name="api_keys", help_text="blank: all teams"
    )
    revoked_at = models.DateTimeField(null=True, blank=True)

    @classmethod
    def issue(cls, user, name: str = "default", **limits) -> tuple[ApiKey, str]:
        """A new key and its one-time text; ``limits``: ``expires``, ``read_only``, ``team_id``."""
        lookup = secrets.token_hex(4)
        key = f"{API_KEY_PREFIX}{lookup}_{secrets.token_urlsafe(32)}"
        return cls.objects.create(user=user, name=name, lookup=lookup, hashed=hash_api_key(key), **limits), key

    @property
    def prefix(self) -> str:
        return f"{API_KEY_PREFIX}{self.lookup}_…"

    def __str__(self) -> str:
        return f"{self.prefix} ({self.name})"


class CredentialStatus(models.TextChoices):
    UNCHECKED = "unchecked"
    VALID = "valid"
    INVALID = "invalid"


class IBMCredential(models.Model):
    """An IBM Quantum credential shared by a team. The token is write-only and Fernet-encrypted."""

    class Channel(models.TextChoices):
        PLATFORM = "ibm_quantum_platform"
        CLOUD = "ibm_cloud"

    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="credentials")
    name = models.CharField(max_length=100)
    channel = models.CharField(max_length=30, choices=Channel.choices, default=Channel.PLATFORM)
    token_encrypted = models.TextField(editable=False)
    token_last4 = models.CharField(max_length=4, editable=False)
    instance = models.CharField(max_length=300, blank=True, help_text="CRN or service name")
    url = models.CharField(max_length=300, blank=True)
    proxies = models.JSONField(null=True, blank=True)
    verify = models.BooleanField(default=True)
    status = models.CharField(max_length=10, choices=CredentialStatus.choices, default=CredentialStatus.UNCHECKED)
    status_reason = models.CharField(max_length=500, blank=True)
    checked_at = models.DateTimeField(null=True, blank=True)
    backends = models.JSONField(default=list, blank=True, help_text="Backends seen at the last check")
    # The instance's service.usage() (seconds consumed, limit, remaining), refreshed by the worker.
    usage = models.JSONField(null=True, blank=True)
    usage_checked_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL)
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["team", "name"], name="unique_credential_name")]

    def set_token(self, token: str) -> None:
        self.token_encrypted = vault.encrypt(token)
        self.token_last4 = token[-4:]

    def decrypt_token(self) -> str:
        """Only the worker calls this."""
        return vault.decrypt(self.token_encrypted)

    def to_spec(self):
        """The decrypted credential for the executor core. Worker-side only."""
        from executors.base import IBMCredential as CredentialSpec
        from qportal.accounts.endpoints import endpoint_policy

        return CredentialSpec(
            token=self.decrypt_token(),
            channel=self.channel,
            instance=self.instance or None,
            url=self.url or None,
            proxies=self.proxies or None,
            verify=self.verify,
            endpoints=endpoint_policy(),
        )

    @property
    def masked(self) -> str:
        return f"****{self.token_last4}"

    def __str__(self) -> str:
        return f"{self.name} ({self.masked})"


class AuditEntry(models.Model):
    """One thing someone did to a team (``qportal.accounts.audit``): append-only, read by owners."""

    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="audit", db_index=False)  # see Meta
    # The username is kept as written: the entry outlives the account.
    actor = models.CharField(max_length=150, blank=True, help_text="username; blank: the system")
    action = models.CharField(max_length=50)
    target = models.CharField(max_length=200, blank=True)
    data = models.JSONField(default=dict, blank=True)
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created", "-id"]
        indexes = [models.Index(fields=["team", "-created"], name="accounts_audit_team_created")]


class Invitation(models.Model):
    """An owner's offer of a role in a team, to an email address or an existing username.

    The link carries a random token; only its SHA-256 is stored. A link works once (``accepted_at``
    is set by a conditional update) and until ``expires``.
    """

    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="invitations")
    email = models.EmailField(blank=True)
    username = models.CharField(max_length=150, blank=True, help_text="an existing user; blank: anyone with the link")
    role = models.CharField(max_length=10, choices=Role.choices, default=Role.MEMBER)
    invited_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    token_hash = models.CharField(max_length=64, unique=True)
    created = models.DateTimeField(auto_now_add=True)
    expires = models.DateTimeField()
    accepted_at = models.DateTimeField(null=True, blank=True)
    accepted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-created", "-id"]

    @property
    def invitee(self) -> str:
        return self.username or self.email

    def __str__(self) -> str:
        return f"{self.invitee} -> {self.team} ({self.role})"
