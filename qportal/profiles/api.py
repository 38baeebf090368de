"""REST endpoints for executor profiles and backends."""

from datetime import datetime
from typing import Any

from ninja import Field, Router, Schema

from qportal.accounts.access import NotFound, personal_team, writable_membership
from qportal.accounts.models import IBMCredential
from qportal.profiles import backends
from qportal.profiles.models import ExecutorProfile
from qportal.profiles.services import delete_profile, resolve_profile, save_profile, visible_profiles
from qportal.profiles.validation import validate_profile

router = Router(tags=["profiles"])


class ProfileIn(Schema):
    name: str
    kind: str
    backend: str = ""
    description: str = ""
    shots: int = 1024
    options: dict[str, Any] = {}
    mode: str = "job"
    max_time: int | None = None
    single_job: bool = True
    local_transpile: bool = True
    credential: str | None = Field(None, description="Name of a team IBM credential (ibm_cloud profiles)")
    members: list[str] = []
    selector: str = "cyclic"
    team: int | None = Field(None, description="Team id; default: your personal team")


class ProfileOut(Schema):
    id: int
    name: str
    description: str
    kind: str
    backend: str
    shots: int
    options: dict
    mode: str
    max_time: int | None
    single_job: bool
    local_transpile: bool
    credential: str | None = None
    members: list[str]
    selector: str
    max_qubits: int | None
    team: int | None = Field(None, alias="team_id")
    builtin: bool
    updated: datetime

    @staticmethod
    def resolve_credential(obj) -> str | None:
        return obj.credential.name if obj.credential_id else None


def apply_fields(profile: ExecutorProfile, payload: ProfileIn) -> ExecutorProfile:
    for attr in (
        "name",
        "kind",
        "backend",
        "description",
        "shots",
        "options",
        "mode",
        "max_time",
        "single_job",
        "local_transpile",
        "members",
        "selector",
    ):
        setattr(profile, attr, getattr(payload, attr))
    profile.credential = None
    if payload.credential:
        profile.credential = IBMCredential.objects.filter(team_id=profile.team_id, name=payload.credential).first()
        if profile.credential is None:
            raise NotFound(f"credential {payload.credential!r} not found in this team")
    validate_profile(profile)
    return profile


@router.get("/profiles", response=list[ProfileOut], summary="Profiles you can use (your teams' and built-in)")
def list_profiles(request):
    return list(visible_profiles(request.user).select_related("credential"))


@router.post("/profiles", response={201: ProfileOut}, summary="Create a team profile")
def create_profile(request, payload: ProfileIn):
    team_id = payload.team if payload.team is not None else personal_team(request.user).id
    writable_membership(request.user, team_id)
    profile = apply_fields(ExecutorProfile(team_id=team_id, created_by=request.user), payload)
    return 201, save_profile(request.user, profile)


@router.put("/profiles/{profile_id}", response=ProfileOut, summary="Replace a team profile")
def update_profile(request, profile_id: int, payload: ProfileIn):
    profile = visible_profiles(request.user).filter(id=profile_id, team__isnull=False).first()
    if profile is None:
        raise NotFound("profile not found")
    writable_membership(request.user, profile.team_id)
    return save_profile(request.user, apply_fields(profile, payload))


@router.delete(
    "/profiles/{profile_id}",
    response={204: None},
    summary="Delete a team profile no job uses",
    description="409 says how many jobs (or which clusters) still use the profile; built-ins answer 403.",
)
def remove_profile(request, profile_id: int):
    delete_profile(request.user, profile_id)
    return 204, None


@router.get("/backends", summary="Backends a profile can reach")
def list_backends(request, profile: str):
    return backends.backends_for(resolve_profile(request.user, profile))
