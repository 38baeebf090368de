"""Sessions and batches of the IBM stand-in, as ``qiskit-ibm-runtime``'s client calls them.

``POST /sessions`` (``{"mode": "dedicated"|"batch", "backend", "instance", "max_ttl"}``) creates
one; ``GET /sessions/{id}`` gives its details (``Session.from_id``, ``Session.details``);
``PATCH /sessions/{id}`` with ``{"accepting_jobs": false}`` closes it (``Session.close``);
``DELETE /sessions/{id}/close`` cancels it with its unfinished jobs (``Session.cancel``).  A job
posted with a ``session_id`` is refused unless the session exists and accepts jobs; a session
whose ``max_ttl`` has passed is ``closed`` and accepts none.

Everything is recorded for tests: :attr:`SessionBook.created` (ids in creation order), each
session's ``job_ids``, ``closed_by`` ("close", "cancel" or "expired").
"""

from __future__ import annotations

import secrets
import threading
import time
from datetime import UTC, datetime
from typing import Any


def _now() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


class SessionError(Exception):
    def __init__(self, status: int, message: str, code: int):
        super().__init__(message)
        self.status, self.message, self.code = status, message, code


class SessionBook:
    """The stand-in's sessions; thread-safe."""

    def __init__(self) -> None:
        self.sessions: dict[str, dict[str, Any]] = {}
        self.created: list[str] = []
        self._started: dict[str, float] = {}
        self._lock = threading.RLock()

    def create(self, payload: dict[str, Any]) -> dict[str, Any]:
        session = {
            "id": f"session{secrets.token_hex(8)}",
            "mode": payload.get("mode"),
            "backend_name": payload.get("backend"),
            "instance": payload.get("instance"),
            "max_ttl": payload.get("max_ttl"),
            "interactive_ttl": 60,
            "active_ttl": payload.get("max_ttl"),
            "accepting_jobs": True,
            "state": "open",
            "started_at": _now(),
            "closed_at": None,
            "elapsed_time": 0,
            "job_ids": [],
            "closed_by": None,
        }
        with self._lock:
            self.sessions[session["id"]] = session
            self.created.append(session["id"])
            self._started[session["id"]] = time.monotonic()
        return self.public(session)

    def get(self, session_id: str) -> dict[str, Any]:
        with self._lock:
            if session_id not in self.sessions:
                raise SessionError(404, f"Session {session_id} not found", 1299)
            session = self.sessions[session_id]
            self._expire(session)
            return session

    def details(self, session_id: str) -> dict[str, Any]:
        return self.public(self.get(session_id))

    def patch(self, session_id: str, body: dict[str, Any]) -> None:
        with self._lock:
            session = self.get(session_id)
            if body.get("accepting_jobs") is False and session["accepting_jobs"]:
                session["accepting_jobs"] = False
                session["closed_by"] = session["closed_by"] or "close"
                self._settle(session)

    def cancel(self, session_id: str) -> list[str]:
        """Close the session at once; the ids of its jobs to cancel."""
        with self._lock:
            session = self.get(session_id)
            session["accepting_jobs"] = False
            session["state"] = "closed"
            session["closed_at"] = session["closed_at"] or _now()
            session["closed_by"] = "cancel"
            return list(session["job_ids"])

    def admit(self, session_id: str | None, job_id: str) -> None:
        """Refuse a job for a missing or closed session; else record it as the session's."""
        if session_id is None:
            return
        with self._lock:
            session = self.get(session_id)
            if not session["accepting_jobs"] or session["state"] == "closed":
                raise SessionError(400, f"Session {session_id} is closed and not accepting jobs", 1217)
            session["job_ids"].append(job_id)
            session["state"] = "active"

    def job_finished(self, session_id: str | None, pending: bool) -> None:
        """A job of the session reached a final state; ``pending``: others are still unfinished."""
        if session_id is None:
            return
        with self._lock:
            session = self.sessions.get(session_id)
            if session is not None and not pending:
                self._settle(session)

    def _settle(self, session: dict[str, Any]) -> None:
        """A session that takes no more jobs ends once none of its jobs is pending (IBM's rule)."""
        if not session["accepting_jobs"] and session["state"] != "closed":
            session["state"] = "closed"
            session["closed_at"] = _now()

    def _expire(self, session: dict[str, Any]) -> None:
        ttl = session["max_ttl"]
        if ttl and session["state"] != "closed" and time.monotonic() - self._started[session["id"]] >= ttl:
            session["accepting_jobs"] = False
            session["state"] = "closed"
            session["closed_at"] = _now()
            session["closed_by"] = "expired"

    @staticmethod
    def public(session: dict[str, Any]) -> dict[str, Any]:
        """The session as the API answers it (without the stand-in's records)."""
        return {key: value for key, value in session.items() if key not in ("job_ids", "closed_by")}

    def state(self) -> dict[str, Any]:
        """Everything recorded, for a test in another process."""
        with self._lock:
            for session in self.sessions.values():
                self._expire(session)
            return {"created": list(self.created), "sessions": {k: dict(v) for k, v in self.sessions.items()}}

    def route(self, method: str, parts: list[str], body: dict[str, Any]) -> tuple[int, Any] | None:
        """Answer ``/sessions...`` (``parts`` after ``sessions``); None for a route it lacks.
        ``DELETE .../close`` answers ``("cancel", job ids)`` for the server to cancel them."""
        match method, parts:
            case "POST", []:
                return 200, self.create(body)
            case "GET", [session_id]:
                return 200, self.details(session_id)
            case "PATCH", [session_id]:
                self.patch(session_id, body)
                return 204, None
            case "DELETE", [session_id, "close"]:
                return 204, ("cancel", self.cancel(session_id))
        return None
