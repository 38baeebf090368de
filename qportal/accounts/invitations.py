"""Invitations: an owner offers a role in a team by email or to an existing username.

The link holds a random token (``secrets.token_urlsafe``); only its SHA-256 is stored, so the
database cannot give a link away. A link works once: accepting sets ``accepted_at`` with a
conditional update, in the transaction that adds the membership. An email invitation's link lets
a new person choose a username and password (or a logged-in user with that email join); a
username invitation waits on that user's Teams page and its link works only for them.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from datetime import timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.core.validators import validate_email
from django.db import transaction
from django.db.models import Q, QuerySet
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from qportal.accounts import audit, teams
from qportal.accounts.access import Conflict, NotFound
from qportal.accounts.models import Invitation, Membership

log = logging.getLogger(__name__)


class InvitationGone(Exception):
    """The link was used, has expired, was revoked or never existed: a page that says which."""


class WrongUser(Exception):
    """The invitation is addressed to someone else than the logged-in user."""


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def link(base_url: str, token: str) -> str:
    return base_url.rstrip("/") + reverse("invitation-accept", args=[token])


def pending(team_id: int) -> QuerySet[Invitation]:
    return Invitation.objects.filter(team_id=team_id, accepted_at__isnull=True, expires__gt=timezone.now())


def addressed_to(user) -> QuerySet[Invitation]:
    """Open invitations for ``user``: by username, or by their email address."""
    who = Q(username=user.get_username())
    if user.email:
        who |= Q(username="", email__iexact=user.email)
    found = Invitation.objects.filter(who, accepted_at__isnull=True, expires__gt=timezone.now())
    return found.exclude(team__memberships__user=user).select_related("team", "invited_by")


def invite(user, team_id: int, *, email: str = "", username: str = "", role: str, base_url: str):
    """Create an invitation and email its link; returns ``(invitation, link, emailed)``.

    The link is returned once (the owner may pass it on by hand) and never stored.
    """
    role = teams.clean_role(role)
    email, username = (email or "").strip(), (username or "").strip()
    if bool(email) == bool(username):
        raise teams.TeamInvalid("give either an email address or a username")
    if email:
        try:
            validate_email(email)
        except ValidationError:
            raise teams.TeamInvalid(f"{email!r} is not an email address") from None
    token = secrets.token_urlsafe(32)
    with transaction.atomic():
        team = teams.shared_team(user, team_id)
        address = email
        if username:
            person = get_user_model().objects.filter(username=username).first()
            if person is None:
                raise teams.TeamInvalid(f"there is no user {username!r}: invite them by email instead")
            if Membership.objects.filter(team=team, user=person).exists():
                raise Conflict(f"{username!r} is already a member of this team")
            address = person.email
        elif Membership.objects.filter(team=team, user__email__iexact=email).exists():
            raise Conflict(f"someone with the address {email} is already a member of this team")
        same = Q(username=username) if username else Q(username="", email__iexact=email)
        if pending(team.id).filter(same).exists():
            raise Conflict(f"{username or email} already has an open invitation to this team: revoke it first")
        invitation = Invitation.objects.create(
            team=team,
            email=email,
            username=username,
            role=role,
            invited_by=user,
            token_hash=hash_token(token),
            expires=timezone.now() + timedelta(days=settings.INVITATION_DAYS),
        )
        audit.record(user, team.id, "member.invited", username or email, role=role)
    url = link(base_url, token)
    emailed = bool(address) and _send(invitation, address, url)
    return invitation, url, emailed


def _send(invitation: Invitation, address: str, url: str) -> bool:
    context = {"invitation": invitation, "link": url, "days": settings.INVITATION_DAYS}
    try:
        send_mail(
            f"You are invited to the team {invitation.team.name} on qportal",
            render_to_string("accounts/invitation_email.txt", context),
            None,
            [address],
        )
    except Exception as exc:  # the invitation stands; the owner was shown the link
        log.warning("invitation email to team %s not sent: %s", invitation.team_id, exc)
        return False
    return True


def revoke(user, team_id: int, invitation_id: int) -> None:
    with transaction.atomic():
        team = teams.shared_team(user, team_id)
        found = pending(team.id).filter(pk=invitation_id).first()
        if found is None:
            raise NotFound("invitation not found (it may have been accepted or have expired)")
        found.delete()
        audit.record(user, team.id, "member.invitation_revoked", found.invitee, role=found.role)


def find(token: str) -> Invitation:
    """The invitation of a link, if it can still be accepted; ``InvitationGone`` says why not."""
    found = Invitation.objects.select_related("team", "invited_by").filter(token_hash=hash_token(token)).first()
    if found is None:
        raise InvitationGone("This invitation link is not valid: it may have been revoked, or mistyped.")
    if found.accepted_at is not None:
        raise InvitationGone(
            "This invitation link has already been used. Log in, or ask the team's owner for a new one."
        )
    if found.expires <= timezone.now():
        raise InvitationGone("This invitation link has expired. Ask the team's owner for a new one.")
    return found


def check_user(invitation: Invitation, user) -> None:
    if invitation.username and invitation.username != user.get_username():
        raise WrongUser(
            f"This invitation is for {invitation.username}, and you are logged in as {user.get_username()}."
        )
    if not invitation.username and (user.email or "").lower() != invitation.email.lower():
        raise WrongUser(
            f"This invitation was sent to {invitation.email}, and your account has "
            f"{'the address ' + user.email if user.email else 'no email address'}. "
            "Log out to create an account with this invitation."
        )


def _claim(invitation: Invitation, user) -> None:
    """Mark the invitation used, once: a second accept (a race, a reused link) is ``InvitationGone``."""
    now = timezone.now()
    claimed = Invitation.objects.filter(pk=invitation.pk, accepted_at__isnull=True, expires__gt=now).update(
        accepted_at=now, accepted_by=user
    )
    if claimed != 1:
        raise InvitationGone("This invitation link has already been used or has expired.")


def _inviter(invitation: Invitation) -> str:
    return invitation.invited_by.get_username() if invitation.invited_by else ""


def accept(invitation: Invitation, user) -> Membership | None:
    """A logged-in user accepts an invitation addressed to them (None: they were a member already)."""
    check_user(invitation, user)
    with transaction.atomic():
        _claim(invitation, user)
        return teams.join(user, invitation.team, invitation.role, _inviter(invitation))


def accept_pending(user, invitation_id: int) -> Membership | None:
    """Accept from the Teams page, by id (only an invitation addressed to ``user``)."""
    found = addressed_to(user).filter(pk=invitation_id).first()
    if found is None:
        raise NotFound("invitation not found (it may have been accepted, revoked or have expired)")
    return accept(found, user)


def accept_new(invitation: Invitation, username: str, password: str):
    """A new person accepts an email invitation: their account is made with the invitation's address."""
    if invitation.username:
        raise WrongUser(f"This invitation is for the existing user {invitation.username}: log in to accept it.")
    with transaction.atomic():
        person = get_user_model().objects.create_user(username, email=invitation.email, password=password)
        _claim(invitation, person)
        teams.join(person, invitation.team, invitation.role, _inviter(invitation))
    return person
