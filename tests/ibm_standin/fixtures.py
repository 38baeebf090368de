"""pytest fixtures: ``standin`` (a started stand-in with the client's environment pointed at it)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.ibm_standin.server import StandIn


@pytest.fixture
def standin(monkeypatch: pytest.MonkeyPatch) -> Iterator[StandIn]:
    """A running :class:`StandIn`; proxy and CA variables are set for this test only."""
    with StandIn() as server:
        for key, value in server.env.items():
            monkeypatch.setenv(key, value)
        yield server
