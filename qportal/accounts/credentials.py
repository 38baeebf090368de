"""Creating, replacing and deleting IBM credentials: shared by the API, the page and the import command.

Error messages name the field at fault and never quote the token.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import QuerySet

from executors.endpoints import EndpointRefused
from qportal.accounts import audit
from qportal.accounts.access import NotFound, team_filter, writable_membership
from qportal.accounts.endpoints import endpoint_policy
from qportal.accounts.models import CredentialStatus, IBMCredential

NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._ -]{0,99}$")
TOKEN_RE = re.compile(r"^[\x21-\x7e]{8,1000}$")  # printable ASCII, no spaces
PROXY_KEYS = {"urls", "username_ntlm", "password_ntlm"}


class CredentialInvalid(Exception):
    """A field is invalid (the message never contains the token)."""


class CredentialConflict(Exception):
    """Duplicate name, or the credential is still used by profiles."""


@dataclass
class Fields:
    name: str
    token: str | None  # None: keep the stored token
    channel: str = IBMCredential.Channel.PLATFORM
    instance: str = ""
    url: str = ""
    proxies: dict[str, Any] | None = None
    verify: bool = True


def clean(fields: Fields, *, token_required: bool) -> Fields:
    name = (fields.name or "").strip()
    if not NAME_RE.match(name):
        raise CredentialInvalid(
            "name must be 1-100 letters, digits, spaces, '.', '_' or '-', starting with a letter or digit"
        )
    token = fields.token.strip() if fields.token is not None else None
    if token == "":
        token = None
    if token is None and token_required:
        raise CredentialInvalid("token is required")
    if token is not None and not TOKEN_RE.match(token):
        raise CredentialInvalid("token must be 8-1000 printable characters without spaces (the value is not shown)")
    if fields.channel not in IBMCredential.Channel.values:
        raise CredentialInvalid(f"channel must be one of {', '.join(IBMCredential.Channel.values)}")
    instance = (fields.instance or "").strip()
    if len(instance) > 300:
        raise CredentialInvalid("instance must be at most 300 characters")
    url = (fields.url or "").strip()
    if url and (len(url) > 300 or not re.match(r"^https?://[^\s/]+", url)):
        raise CredentialInvalid("url must be an https URL of at most 300 characters")
    proxies = fields.proxies or None
    if proxies is not None:
        unknown = set(proxies) - PROXY_KEYS
        if unknown:
            raise CredentialInvalid(
                f"proxies: unknown keys {', '.join(sorted(unknown))}; known: {', '.join(sorted(PROXY_KEYS))}"
            )
        urls = proxies.get("urls", {})
        if not isinstance(urls, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in urls.items()):
            raise CredentialInvalid("proxies.urls must map schemes to proxy URLs")
    try:
        policy = endpoint_policy()
        policy.check_url(url)
        policy.check_proxies(proxies)
    except EndpointRefused as exc:
        raise CredentialInvalid(str(exc)) from None
    return Fields(
        name=name,
        token=token,
        channel=fields.channel,
        instance=instance,
        url=url,
        proxies=proxies,
        verify=bool(fields.verify),
    )


def visible(user, team: int | None = None) -> QuerySet[IBMCredential]:
    found = IBMCredential.objects.filter(team_filter(user)).select_related("team").order_by("team__name", "name")
    return found.filter(team_id=team) if team is not None else found


def get(user, cred_id: int, *, write: bool = False) -> IBMCredential:
    """The credential if ``user`` is in its team (else NotFound); ``write`` also requires owner/member."""
    cred = visible(user).filter(id=cred_id).first()
    if cred is None:
        raise NotFound("credential not found")
    if write:
        writable_membership(user, cred.team_id)
    return cred


def _reset_check(cred: IBMCredential) -> None:
    cred.status = CredentialStatus.UNCHECKED
    cred.status_reason = ""
    cred.checked_at = None
    cred.backends = []


def _save(cred: IBMCredential) -> IBMCredential:
    try:
        with transaction.atomic():
            cred.save()
    except IntegrityError:
        raise CredentialConflict(f"this team already has a credential named {cred.name!r}") from None
    return cred


def create(user, team_id: int, fields: Fields) -> IBMCredential:
    fields = clean(fields, token_required=True)
    cred = IBMCredential(team_id=team_id, created_by=user)
    _apply(cred, fields)
    with transaction.atomic():
        _save(cred)
        audit.record(user, team_id, "credential.created", cred.name, channel=cred.channel)
    return cred


def update(cred: IBMCredential, fields: Fields, actor=None) -> IBMCredential:
    """Replace the fields; a new token (or a changed endpoint) resets the status to unchecked.

    Where the token is sent (channel, instance, url, proxies, verify) changes only together with
    the token itself, whoever asks: otherwise anyone who may edit could send the team's token to a
    host of their choosing and read it there.
    """
    fields = clean(fields, token_required=False)
    if fields.token is None and _reach(cred) != _reach(fields):
        changed = [name for name, old, new in zip(REACH, _reach(cred), _reach(fields), strict=True) if old != new]
        raise CredentialInvalid(
            f"changing {', '.join(changed)} changes where the token is sent: enter the token again with the change"
        )
    before = cred.name
    _apply(cred, fields)
    with transaction.atomic():
        _save(cred)
        changes = {"token": "replaced"} if fields.token is not None else {}
        if before != cred.name:
            changes["renamed_from"] = before
        audit.record(actor, cred.team_id, "credential.updated", cred.name, **changes)
    return cred


REACH = ("channel", "instance", "url", "proxies", "verify")


def _reach(item: IBMCredential | Fields) -> tuple:
    return (item.channel, item.instance or "", item.url or "", item.proxies or None, bool(item.verify))


def _apply(cred: IBMCredential, fields: Fields) -> None:
    reach = _reach(cred)
    cred.name = fields.name
    cred.channel, cred.instance, cred.url = fields.channel, fields.instance, fields.url
    cred.proxies, cred.verify = fields.proxies, fields.verify
    changed = reach != _reach(cred)
    if fields.token is not None:
        cred.set_token(fields.token)
        changed = True
    if changed or cred.pk is None:
        _reset_check(cred)


def delete(cred: IBMCredential, actor=None) -> None:
    used_by = sorted(cred.executorprofile_set.values_list("name", flat=True))
    if used_by:
        raise CredentialConflict(
            f"credential {cred.name!r} is used by profile(s) {', '.join(used_by)}; change them first"
        )
    with transaction.atomic():
        audit.record(actor, cred.team_id, "credential.deleted", cred.name)
        cred.delete()


def request_check(cred: IBMCredential, actor=None) -> IBMCredential:
    """Mark the credential for a background re-check by the next worker sweep."""
    with transaction.atomic():
        IBMCredential.objects.filter(id=cred.id).update(
            status=CredentialStatus.UNCHECKED, status_reason="", checked_at=None
        )
        audit.record(actor, cred.team_id, "credential.check_requested", cred.name)
    cred.refresh_from_db()
    return cred
