"""A uvicorn master killed with SIGKILL takes its workers with it, so the portal restarts on the
same port (issue 16: the workers kept serving and the restart failed with "Address already in
use")."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.production.harness import running_portal

pytestmark = pytest.mark.production


@pytest.fixture
def portal(tmp_path):
    with running_portal(tmp_path, redis_db=13) as portal:
        yield portal


def running(pid: int) -> bool:
    """True while ``pid`` runs (a zombie, ended but not yet reaped, is not running)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def test_killing_the_master_ends_its_workers_and_a_restart_serves(portal):
    portal.start_web(workers=2)
    workers = portal.web_worker_pids(2)
    assert portal.request("GET", "/jobs")[0] == 200

    portal.kill("web")  # SIGKILL to the master only
    portal.wait_for(lambda: not any(running(pid) for pid in workers), 15, "the workers to end")

    portal.start_web(workers=2)  # same port; raises if uvicorn exits ("Address already in use")
    restarted = portal.web_worker_pids(2)
    assert not set(restarted) & set(workers)
    statuses = [portal.request("GET", "/jobs")[0] for _ in range(10)]
    assert statuses == [200] * 10
    log = (portal.log_dir / "web.log").read_text()
    assert "Address already in use" not in log
