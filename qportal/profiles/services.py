"""Finding and validating executor profiles."""

from __future__ import annotations

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import ProtectedError, Q, QuerySet

from executors.base import ExecutorError
from executors.memory import memory_max_qubits
from executors.registry import backend_max_qubits
from qportal.accounts import audit
from qportal.accounts.access import Conflict, NotFound, ReadOnly, team_filter, writable_membership
from qportal.profiles import queries
from qportal.profiles.models import ExecutorProfile, ProfileKind


class ProfileInvalid(Exception):
    pass


class InvalidProfileOption(ProfileInvalid):
    """A profile option its primitive cannot take; ``field`` is its dotted path (``options.x.y``)."""

    def __init__(self, message: str, *, field: str):
        super().__init__(message)
        self.field = "options" if field == "options" else f"options.{field}"


def visible_profiles(user) -> QuerySet[ExecutorProfile]:
    """Built-in profiles and those of the user's teams (one query: the teams are a subquery)."""
    return ExecutorProfile.objects.filter(Q(team__isnull=True) | team_filter(user)).select_related("team")


def resolve_profile(user, name: str, team_id: int | None = None) -> ExecutorProfile:
    """The profile ``name`` as seen from ``team_id`` (or from any of the user's teams).

    A team's own profile shadows a built-in one of the same name.
    """
    return _resolve(user, name, team_id)[0]


def resolve_profile_and_personal_team(user, name: str, team_id: int | None = None):
    """``resolve_profile`` plus, when ``team_id`` is None, the user's personal team from the same query
    (None if they have none yet, or ``team_id`` was given): one query fewer per submission."""
    return _resolve(user, name, team_id, with_personal_team=team_id is None)


def _resolve(user, name: str, team_id: int | None, *, with_personal_team: bool = False):
    candidates, personal = queries.visible_named(user, name, with_personal_team=with_personal_team)
    if team_id is not None:
        candidates = [p for p in candidates if p.team_id in (team_id, None)]
    if not candidates:
        raise NotFound(f"profile {name!r} not found")
    owned = [p for p in candidates if p.team_id is not None]
    if len(owned) > 1:
        teams = ", ".join(sorted(p.team.name for p in owned))
        raise ProfileInvalid(f'profile {name!r} exists in several of your teams ({teams}); say which with "team"')
    return (owned[0] if owned else candidates[0]), personal


def deletable_profile(user, profile_id: int) -> ExecutorProfile:
    """The team profile ``profile_id`` if ``user`` may delete it: NotFound for a profile of a team
    they are not in, ReadOnly for a viewer or a built-in profile."""
    profile = visible_profiles(user).filter(id=profile_id).first()
    if profile is None:
        raise NotFound("profile not found")
    if profile.builtin:
        raise ReadOnly(f"{profile.name!r} is a built-in profile: built-in profiles cannot be deleted")
    writable_membership(user, profile.team_id)
    return profile


def _refusal(profile: ExecutorProfile) -> str | None:
    """Why ``profile`` must stay: the jobs that refer to it, or the team's clusters that list it."""
    jobs = profile.jobs.count()
    if jobs:
        noun = "job uses" if jobs == 1 else "jobs use"
        return f"{jobs} {noun} profile {profile.name!r}, so it cannot be deleted"
    clusters = ExecutorProfile.objects.filter(team_id=profile.team_id, kind=ProfileKind.CLUSTER).values_list(
        "name", "members"
    )
    listing = sorted(name for name, members in clusters if profile.name in (members or []))
    if listing:
        return f"profile {profile.name!r} is a member of cluster {', '.join(listing)}: remove it there first"
    return None


def save_profile(user, profile: ExecutorProfile) -> ExecutorProfile:
    """Create or replace a team profile (validated already), with its audit entry; Conflict on a
    name the team has."""
    created = profile.pk is None
    try:
        with transaction.atomic():
            profile.save()
            audit.record(
                user,
                profile.team_id,
                "profile.created" if created else "profile.updated",
                profile.name,
                kind=profile.kind,
                backend=profile.backend,
            )
    except IntegrityError:
        raise Conflict(f"this team already has a profile named {profile.name!r}") from None
    return profile


def delete_profile(user, profile_id: int) -> ExecutorProfile:
    """Delete a team profile that no job and no cluster refers to; Conflict (saying why) otherwise.

    Jobs keep their profile (``Job.profile`` is PROTECT), so a job submitted while this runs makes
    the delete fail rather than lose the job.
    """
    profile = deletable_profile(user, profile_id)
    reason = _refusal(profile)
    if reason:
        raise Conflict(reason)
    try:
        with transaction.atomic():
            audit.record(user, profile.team_id, "profile.deleted", profile.name)
            profile.delete()
    except (ProtectedError, IntegrityError):
        raise Conflict(_refusal(profile) or f"profile {profile.name!r} is in use") from None
    return profile


def member_resolver(profile: ExecutorProfile):
    """Resolve cluster member names within the cluster profile's team (or built-ins)."""

    def resolve(name: str) -> ExecutorProfile:
        found = ExecutorProfile.objects.filter(Q(team_id=profile.team_id) | Q(team__isnull=True), name=name)
        found = sorted(found, key=lambda p: p.team_id is None)
        if not found:
            raise ProfileInvalid(f"cluster member profile {name!r} not found")
        return found[0]

    return resolve


def profile_max_qubits(profile: ExecutorProfile) -> int | None:
    """The most qubits a job on ``profile`` may use: the backend's, and for simulators what fits in
    one simulator process (``QPORTAL_SIM_MEMORY_MB``, executors.memory)."""
    if profile.kind in (ProfileKind.LOCAL, ProfileKind.PENNYLANE):
        spec = profile.to_spec()
        by_memory = memory_max_qubits(spec, settings.SIM_MEMORY_BYTES)
        try:
            by_backend = profile.max_qubits or backend_max_qubits(spec)
        except ExecutorError as exc:
            raise ProfileInvalid(str(exc)) from None
        known = [n for n in (by_memory, by_backend) if n]
        return min(known) if known else None
    if profile.max_qubits:
        return profile.max_qubits
    if profile.kind == ProfileKind.FAKE:
        try:
            return backend_max_qubits(profile.to_spec())
        except ExecutorError as exc:
            raise ProfileInvalid(str(exc)) from None
    if profile.kind == ProfileKind.CLUSTER:
        resolve = member_resolver(profile)
        limits = [profile_max_qubits(resolve(name)) for name in profile.members]
        known = [n for n in limits if n is not None]
        return min(known) if known else None
    return None
