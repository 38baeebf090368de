"""Team pages: your teams and open invitations, one team with its members, invitations and audit trail.

Every change is a POST that redirects back (or, for an invitation, shows its link once); the rules
are ``qportal.accounts.teams``' and ``invitations``': outsiders 404, non-owners 403, conflicts 409.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from qportal.accounts import audit, invitations, teams
from qportal.accounts.access import Conflict, NotFound, ReadOnly, membership
from qportal.accounts.models import Membership, Role

AUDIT_ROWS = 50


def _refused(request, exc: Exception):
    """404 outside the team, 403 for a non-owner."""
    if isinstance(exc, NotFound):
        raise Http404(str(exc))
    return render(request, "forbidden.html", {"message": str(exc)}, status=403)


@login_required
def team_list(request):
    error, status = "", 200
    if request.method == "POST":
        try:
            team = teams.create(request.user, request.POST.get("name", ""))
        except teams.TeamInvalid as exc:
            error, status = str(exc), 400
        else:
            messages.success(request, f"Created {team.name}; you are its owner. Invite people below.")
            return redirect("team-detail", team.id)
    memberships = Membership.objects.filter(user=request.user).select_related("team")
    context = {
        "memberships": sorted(memberships, key=lambda m: (not m.team.personal, m.team.name.lower())),
        "invitations": list(invitations.addressed_to(request.user)),
        "error": error,
        "name": request.POST.get("name", "") if error else "",
    }
    return render(request, "accounts/teams.html", context, status=status)


def _detail_page(request, team_id: int, *, error: str = "", status: int = 200, **extra):
    try:
        mine = membership(request.user, team_id)
    except NotFound:
        raise Http404("team not found") from None
    owner = mine.role == Role.OWNER
    context = {
        "team": mine.team,
        "mine": mine,
        "owner": owner,
        "manage": owner and not mine.team.personal,
        "members": teams.members(team_id),
        "roles": Role.values,
        "error": error,
        **extra,
    }
    if owner:
        context["pending"] = list(invitations.pending(team_id).select_related("invited_by"))
        context["audit"] = list(audit.entries(request.user, team_id)[:AUDIT_ROWS])
    return render(request, "accounts/team.html", context, status=status)


@login_required
def team_detail(request, team_id: int):
    return _detail_page(request, team_id)


def _change(view):
    """A POST that changes a team: refusals become their pages, success redirects to the team."""

    def wrapped(request, team_id: int, **kwargs):
        try:
            done = view(request, team_id, **kwargs)
        except teams.TeamInvalid as exc:
            return _detail_page(request, team_id, error=str(exc), status=400)
        except Conflict as exc:
            return _detail_page(request, team_id, error=str(exc), status=409)
        except (NotFound, ReadOnly) as exc:
            return _refused(request, exc)
        if done is not None and not isinstance(done, str):
            return done
        if done:
            messages.success(request, done)
        return redirect("team-detail", team_id)

    wrapped.__name__ = view.__name__
    return login_required(require_POST(wrapped))


@_change
def team_rename(request, team_id: int):
    team = teams.rename(request.user, team_id, request.POST.get("name", ""))
    return f"Renamed the team to {team.name}."


@_change
def team_invite(request, team_id: int):
    who = request.POST.get("invitee", "").strip()
    email, username = (who, "") if "@" in who else ("", who)
    invitation, link, emailed = invitations.invite(
        request.user,
        team_id,
        email=email,
        username=username,
        role=request.POST.get("role", ""),
        base_url=request.build_absolute_uri("/"),
    )
    return _detail_page(request, team_id, invited=invitation, link=link, emailed=emailed, status=201)


@_change
def invitation_revoke(request, team_id: int, invitation_id: int):
    invitations.revoke(request.user, team_id, invitation_id)
    return "Revoked the invitation; its link no longer works."


@_change
def member_role(request, team_id: int, username: str):
    found = teams.change_role(request.user, team_id, username, request.POST.get("role", ""))
    return f"{username} is now {found.role}."


@_change
def member_remove(request, team_id: int, username: str):
    teams.remove_member(request.user, team_id, username)
    if username == request.user.get_username():
        return redirect("team-list")
    return f"Removed {username} from the team."


@login_required
@require_POST
def team_leave(request, team_id: int):
    try:
        name = membership(request.user, team_id).team.name
        teams.leave(request.user, team_id)
    except Conflict as exc:
        return _detail_page(request, team_id, error=str(exc), status=409)
    except NotFound as exc:
        return _refused(request, exc)
    messages.success(request, f"You left {name}.")
    return redirect("team-list")


@login_required
@require_POST
def invitation_accept_pending(request, invitation_id: int):
    try:
        joined = invitations.accept_pending(request.user, invitation_id)
    except NotFound as exc:
        raise Http404(str(exc)) from None
    except (invitations.InvitationGone, invitations.WrongUser) as exc:
        return render(request, "accounts/invitation.html", {"gone": str(exc)}, status=410)
    if joined is None:
        return redirect("team-list")
    messages.success(request, f"You joined {joined.team.name} as {joined.role}.")
    return redirect("team-detail", joined.team_id)
