"""A portal session (or batch) as a context manager: every job submitted in it runs inside one IBM
``Session``/``Batch`` (on local and fake profiles, on one kept executor), so an optimiser loop
keeps its place on the device between calls.

>>> client = PortalClient("http://localhost:8000", api_key="qp_...")
>>> with PortalSession(client, profile="fake_manila", max_time=600) as session:
...     for theta in thetas:
...         job = session.submit([qasm(theta)], primitive="estimator", observables=[["ZZ"]])
...         evs = client.results(client.wait(job["id"])["id"])[0]["evs"]

Leaving the ``with`` block closes the session: no new jobs, the submitted ones finish, then the
IBM session is closed.  :meth:`PortalSession.cancel` cancels its unfinished jobs and the IBM
session at once.  Nothing here imports Django.
"""

from __future__ import annotations

from types import TracebackType
from typing import Any, Literal

from executors.base import InvalidRequest
from executors.portal_client import PortalClient


class PortalSession:
    """``client``, ``profile``, ``mode`` as given; ``id`` once open (``None`` before)."""

    def __init__(
        self,
        client: PortalClient,
        profile: str,
        mode: Literal["session", "batch"] = "session",
        max_time: int | None = None,
        name: str = "",
        *,
        idle_timeout: int | None = None,
    ):
        if mode not in ("session", "batch"):
            raise InvalidRequest(f'mode must be "session" or "batch", not {mode!r}')
        self.client = client
        self.profile = profile
        self.mode = mode
        self.max_time = max_time
        self.name = name
        self.idle_timeout = idle_timeout
        self.id: str | None = None

    def __repr__(self) -> str:
        return f"PortalSession(profile={self.profile!r}, mode={self.mode!r}, id={self.id!r})"

    def open(self) -> PortalSession:
        """Create the portal session on the server (once); ``with`` calls it."""
        if self.id is None:
            created = self.client.create_session(
                self.profile, mode=self.mode, max_time=self.max_time, name=self.name, idle_timeout=self.idle_timeout
            )
            self.id = str(created["id"])
        return self

    def _opened(self) -> str:
        if self.id is None:
            raise InvalidRequest("the session is not open: use it in a `with` block or call open()")
        return self.id

    def submit(self, circuits: list[str], **options: Any) -> dict[str, Any]:
        """``PortalClient.submit`` in this session, on its profile; the job's JSON."""
        return self.client.submit(self.profile, circuits, session=self._opened(), **options)

    def details(self) -> dict[str, Any]:
        """The session's JSON: status, ``ibm_session_id``, its ``jobs``."""
        return self.client.session(self._opened())

    def close(self) -> dict[str, Any] | None:
        """No new jobs; the submitted ones finish (idempotent)."""
        return None if self.id is None else self.client.close_session(self.id)

    def cancel(self) -> dict[str, Any] | None:
        """Cancel its queued and running jobs and the IBM session (idempotent)."""
        return None if self.id is None else self.client.cancel_session(self.id)

    def __enter__(self) -> PortalSession:
        return self.open()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
