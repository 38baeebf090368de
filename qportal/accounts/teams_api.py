"""``/api/v1/teams``: teams, their members and invitations.

Anyone outside a team gets a 404 for it and its members; members and viewers read it; owners
change it (others get a 403). A team keeps at least one owner (409 otherwise).
"""

from __future__ import annotations

from datetime import datetime

from ninja import Field, Router, Schema

from qportal.accounts import invitations, teams
from qportal.accounts.access import membership, user_teams
from qportal.accounts.models import Membership

router = Router(tags=["teams"])


class TeamIn(Schema):
    name: str


class TeamOut(Schema):
    id: int
    name: str
    personal: bool
    role: str
    created: datetime


class MemberOut(Schema):
    username: str
    role: str


class TeamDetail(TeamOut):
    members: list[MemberOut]


class MemberIn(Schema):
    username: str
    role: str = "member"


class RoleIn(Schema):
    role: str


class InvitationIn(Schema):
    email: str = Field("", description="A new person's address: the link lets them make an account")
    username: str = Field("", description="Or an existing user: they accept on their Teams page")
    role: str = "member"


class InvitationOut(Schema):
    id: int
    email: str
    username: str
    role: str
    invited_by: str | None
    created: datetime
    expires: datetime

    @staticmethod
    def resolve_invited_by(obj) -> str | None:
        return obj.invited_by.get_username() if obj.invited_by else None


class InvitationCreated(InvitationOut):
    link: str = Field(..., description="The one-time link, shown only in this answer")
    emailed: bool


def _team_out(team, role: str) -> dict:
    return {"id": team.id, "name": team.name, "personal": team.personal, "role": role, "created": team.created}


def _detail(user, team_id: int) -> dict:
    found = membership(user, team_id)
    members = [{"username": m.user.get_username(), "role": m.role} for m in teams.members(team_id)]
    return {**_team_out(found.team, found.role), "members": members}


def _member_out(found: Membership) -> dict:
    return {"username": found.user.get_username(), "role": found.role}


@router.get("/teams", response=list[TeamOut], summary="Your teams, with your role in each")
def team_list(request):
    roles = dict(Membership.objects.filter(user=request.user).values_list("team_id", "role"))
    return [_team_out(team, roles[team.id]) for team in user_teams(request.user)]


@router.post("/teams", response={201: TeamDetail}, summary="Create a team; you are its owner")
def team_create(request, payload: TeamIn):
    team = teams.create(request.user, payload.name)
    return 201, _detail(request.user, team.id)


@router.get("/teams/{team_id}", response=TeamDetail, summary="A team and its members")
def team_detail(request, team_id: int):
    return _detail(request.user, team_id)


@router.patch("/teams/{team_id}", response=TeamDetail, summary="Rename a team (owners)")
def team_rename(request, team_id: int, payload: TeamIn):
    teams.rename(request.user, team_id, payload.name)
    return _detail(request.user, team_id)


@router.post("/teams/{team_id}/members", response={201: MemberOut}, summary="Add an existing user (owners)")
def member_add(request, team_id: int, payload: MemberIn):
    return 201, _member_out(teams.add_member(request.user, team_id, payload.username, payload.role))


@router.put("/teams/{team_id}/members/{username}", response=MemberOut, summary="Change a member's role (owners)")
def member_role(request, team_id: int, username: str, payload: RoleIn):
    return _member_out(teams.change_role(request.user, team_id, username, payload.role))


@router.delete(
    "/teams/{team_id}/members/{username}",
    response={204: None},
    summary="Remove a member (owners), or leave (your own username)",
)
def member_remove(request, team_id: int, username: str):
    teams.remove_member(request.user, team_id, username)
    return 204, None


@router.get("/teams/{team_id}/invitations", response=list[InvitationOut], summary="Open invitations (owners)")
def invitation_list(request, team_id: int):
    teams.owned_team(request.user, team_id)
    return list(invitations.pending(team_id).select_related("invited_by"))


@router.post(
    "/teams/{team_id}/invitations",
    response={201: InvitationCreated},
    summary="Invite by email or username (owners)",
    description="Emails the one-time link (to the address, or to the user's address if they have one) and "
    "returns it once in `link`, so an owner without mail can pass it on.",
)
def invitation_create(request, team_id: int, payload: InvitationIn):
    invitation, link, emailed = invitations.invite(
        request.user,
        team_id,
        email=payload.email,
        username=payload.username,
        role=payload.role,
        base_url=request.build_absolute_uri("/"),
    )
    invitation.link, invitation.emailed = link, emailed  # for this answer only; never stored
    return 201, invitation


@router.delete("/teams/{team_id}/invitations/{invitation_id}", response={204: None}, summary="Revoke (owners)")
def invitation_revoke(request, team_id: int, invitation_id: int):
    invitations.revoke(request.user, team_id, invitation_id)
    return 204, None
