"""REST endpoints for self-service API keys: the key's text is in the answer that creates it, never again."""

from __future__ import annotations

from datetime import datetime

from django.http import HttpResponse
from ninja import Field, Router, Schema
from ninja.errors import HttpError

from qportal.accounts import key_services

router = Router(tags=["keys"])


class KeyIn(Schema):
    name: str = Field(..., description="1-100 characters")
    expires: int | datetime | None = Field(
        None, description="A date-time in the future (with a time zone), or a number of days; omit: never"
    )
    read_only: bool = Field(False, description="Refused every write (403)")
    team: int | None = Field(None, description="Limit the key to this team; omit: all your teams")


class KeyOut(Schema):
    id: int
    name: str
    prefix: str
    user: str
    team: int | None = Field(None, alias="team_id")
    team_name: str | None
    read_only: bool
    created: datetime
    last_used: datetime | None
    expires: datetime | None
    revoked_at: datetime | None
    status: str = Field(..., description="active, expired or revoked")

    @staticmethod
    def resolve_user(obj) -> str:
        return obj.user.get_username()

    @staticmethod
    def resolve_team_name(obj) -> str | None:
        return obj.team.name if obj.team_id is not None else None

    @staticmethod
    def resolve_status(obj) -> str:
        return key_services.status(obj)


class NewKeyOut(KeyOut):
    key: str = Field(..., description="The key itself: shown in this answer only")


@router.post("/keys", response={201: NewKeyOut}, summary="Create an API key (its text is shown once)")
def create_key(request, payload: KeyIn, response: HttpResponse):
    try:
        key, text = key_services.create(
            request.user,
            payload.name,
            expires=payload.expires,
            read_only=payload.read_only,
            team_id=payload.team,
            via=getattr(request, "api_key", None),
        )
    except key_services.KeyInvalid as exc:
        raise HttpError(400, str(exc)) from None
    key.key = text
    response["Cache-Control"] = "no-store"
    return 201, key


@router.get("/keys", response=list[KeyOut], summary="Your API keys (prefix, limits, last use; never the key)")
def list_keys(request):
    return list(key_services.mine(request.user))


@router.delete("/keys/{key_id}", response={204: None}, summary="Revoke a key (yours, or one scoped to a team you own)")
def revoke_key(request, key_id: int):
    key_services.revoke(request.user, key_services.revocable(request.user, key_id))
    return 204, None


@router.get(
    "/teams/{team_id}/keys",
    response=list[KeyOut],
    summary="The keys members use on a team (owners)",
    description="Every member's keys scoped to the team, revoked ones included. Members who are not owners get a "
    "403; anyone outside the team a 404.",
)
def team_keys(request, team_id: int):
    return list(key_services.team_keys(request.user, team_id))
