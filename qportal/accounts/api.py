"""REST endpoints for a team's IBM Quantum credentials.

The token is write-only: it is accepted on create and replace, encrypted at once, and never
returned, logged or quoted in an error. Responses show its last four characters (``token_hint``).
Saving a token marks the credential ``unchecked``; a worker validates it in the background.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ninja import Field, Router, Schema
from ninja.errors import HttpError
from pydantic import SecretStr

from qportal.accounts import credentials
from qportal.accounts.access import personal_team, writable_membership

router = Router(tags=["credentials"])


class CredentialIn(Schema):
    name: str
    token: SecretStr = Field(..., description="IBM Cloud API key; write-only, never returned")
    channel: str = "ibm_quantum_platform"
    instance: str = Field("", description="Instance CRN or service name")
    url: str = ""
    proxies: dict[str, Any] | None = None
    verify: bool = True
    team: int | None = Field(None, description="Team id; default: your personal team")


class CredentialUpdate(Schema):
    name: str
    token: SecretStr | None = Field(None, description="A new token; omit to keep the stored one")
    channel: str = "ibm_quantum_platform"
    instance: str = ""
    url: str = ""
    proxies: dict[str, Any] | None = None
    verify: bool = True


class CredentialOut(Schema):
    id: int
    name: str
    team: int = Field(..., alias="team_id")
    channel: str
    instance: str
    url: str
    token_hint: str = Field(..., alias="masked")
    status: str
    status_reason: str
    checked_at: datetime | None
    backends: list[str]
    profiles: list[str]
    created: datetime
    usage: dict | None = Field(
        None,
        description="the instance's `service.usage()` as the worker last read it: "
        "usage_consumed_seconds, usage_limit_seconds, usage_remaining_seconds, usage_limit_reached",
    )
    usage_checked_at: datetime | None = None

    @staticmethod
    def resolve_backends(obj) -> list[str]:
        return [b.get("name", "") for b in obj.backends or []]

    @staticmethod
    def resolve_profiles(obj) -> list[str]:
        return sorted(p.name for p in obj.executorprofile_set.all())


def _fields(payload: CredentialIn | CredentialUpdate) -> credentials.Fields:
    token = payload.token.get_secret_value() if payload.token is not None else None
    return credentials.Fields(
        name=payload.name,
        token=token,
        channel=payload.channel,
        instance=payload.instance,
        url=payload.url,
        proxies=payload.proxies,
        verify=payload.verify,
    )


def _http_error(exc: Exception) -> HttpError:
    return HttpError(409 if isinstance(exc, credentials.CredentialConflict) else 400, str(exc))


_ERRORS = (credentials.CredentialInvalid, credentials.CredentialConflict)


@router.get("/credentials", response=list[CredentialOut], summary="Your teams' IBM credentials (masked)")
def list_credentials(request, team: int | None = None):
    return list(credentials.visible(request.user, team).prefetch_related("executorprofile_set"))


@router.get("/credentials/{cred_id}", response=CredentialOut, summary="One credential (masked)")
def get_credential(request, cred_id: int):
    return credentials.get(request.user, cred_id)


@router.post("/credentials", response={201: CredentialOut}, summary="Store a team credential")
def create_credential(request, payload: CredentialIn):
    team_id = payload.team if payload.team is not None else personal_team(request.user).id
    writable_membership(request.user, team_id)
    try:
        cred = credentials.create(request.user, team_id, _fields(payload))
    except _ERRORS as exc:
        raise _http_error(exc) from None
    return 201, cred


@router.put("/credentials/{cred_id}", response=CredentialOut, summary="Replace a credential's fields")
def update_credential(request, cred_id: int, payload: CredentialUpdate):
    cred = credentials.get(request.user, cred_id, write=True)
    try:
        return credentials.update(cred, _fields(payload), request.user)
    except _ERRORS as exc:
        raise _http_error(exc) from None


@router.delete("/credentials/{cred_id}", response={204: None}, summary="Delete an unused credential")
def delete_credential(request, cred_id: int):
    try:
        credentials.delete(credentials.get(request.user, cred_id, write=True), request.user)
    except _ERRORS as exc:
        raise _http_error(exc) from None
    return 204, None


@router.post("/credentials/{cred_id}/check", response={202: CredentialOut}, summary="Re-check in the background")
def check_credential(request, cred_id: int):
    return 202, credentials.request_check(credentials.get(request.user, cred_id, write=True), request.user)
