"""REST endpoints for portal sessions and batches: thin wrappers around ``qportal.jobs.sessions``."""

from __future__ import annotations

from datetime import datetime
from typing import Literal
from uuid import UUID

from ninja import Field, Query, Router, Schema

from qportal.jobs import sessions
from qportal.jobs.schemas import JobOut

router = Router(tags=["sessions"])

MAX_LISTED_JOBS = 1000


class SessionIn(Schema):
    profile: str = Field(..., description="the profile every job of the session runs on (local, fake or IBM cloud)")
    mode: Literal["session", "batch"] = Field("session", description="an IBM `Session` or `Batch`")
    max_time: int | None = Field(
        None, description=f"seconds the session may stay open (1-{sessions.MAX_TIME_LIMIT}); then it expires"
    )
    idle_timeout: int | None = Field(
        None,
        description=f"seconds without a job before it expires (1-{sessions.MAX_IDLE_TIMEOUT}, "
        f"default {sessions.DEFAULT_IDLE_TIMEOUT})",
    )
    name: str = ""
    team: int | None = Field(None, description="Team id; default: the profile's team or your personal team")


class SessionOut(Schema):
    id: UUID
    name: str
    mode: str
    status: str = Field(..., description="open, active, closed, expired or cancelled")
    team: int = Field(..., alias="team_id")
    profile: str = Field(..., alias="profile.name")
    backend: str
    ibm_session_id: str = Field(..., description="the IBM session's id once its first job opened it")
    max_time: int | None
    idle_timeout: int
    created_by: str | None = None
    created: datetime
    last_activity: datetime
    closing_at: datetime | None = Field(..., description="when it stopped taking jobs")
    closed_at: datetime | None = Field(..., description="when its jobs and the IBM session had ended")

    @staticmethod
    def resolve_created_by(obj) -> str | None:
        return obj.created_by.get_username() if obj.created_by_id else None


class SessionDetailOut(SessionOut):
    jobs: list[JobOut] = Field(..., description=f"its jobs, oldest first (the first {MAX_LISTED_JOBS})")

    @staticmethod
    def resolve_jobs(obj) -> list:
        return list(sessions.jobs_of(obj)[:MAX_LISTED_JOBS])


class SessionFilters(Schema):
    status: Literal["open", "active", "closed", "expired", "cancelled"] | None = None
    team: int | None = None


@router.post("/sessions", response={201: SessionOut}, summary="Open a session or batch")
def create(request, payload: SessionIn):
    session = sessions.create_session(
        request.user,
        profile=payload.profile,
        mode=payload.mode,
        max_time=payload.max_time,
        name=payload.name,
        team=payload.team,
        idle_timeout=payload.idle_timeout,
    )
    return 201, sessions.get_session(request.user, session.id)


@router.get("/sessions", response=list[SessionOut], summary="Your teams' sessions, newest first")
def list_sessions(request, filters: Query[SessionFilters], limit: int = Query(100, ge=1, le=500)):
    found = sessions.sessions_for(request.user)
    if filters.status:
        found = found.filter(status=filters.status)
    if filters.team is not None:
        found = found.filter(team_id=filters.team)
    return list(found[:limit])


@router.get("/sessions/{session_id}", response=SessionDetailOut, summary="A session with its jobs")
def get(request, session_id: UUID):
    return sessions.get_session(request.user, session_id)


@router.post(
    "/sessions/{session_id}/close",
    response=SessionOut,
    summary="Close a session: no new jobs; its queued and running jobs finish (idempotent)",
)
def close(request, session_id: UUID):
    return sessions.close_session(request.user, sessions.get_session(request.user, session_id))


@router.post(
    "/sessions/{session_id}/cancel",
    response=SessionOut,
    summary="Cancel a session: its queued and running jobs, and the IBM session (idempotent)",
)
def cancel(request, session_id: UUID):
    return sessions.cancel_session(request.user, sessions.get_session(request.user, session_id))
