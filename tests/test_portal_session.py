"""``PortalSession`` through a real portal (``manage.py serve``, SQLite), offline on ``local`` and
``fake_manila``: a loop of estimator calls in one session, closed on leaving the ``with`` block;
what a closed session refuses; cancel."""

from __future__ import annotations

import math

import pytest
from qiskit import qasm2
from qiskit.quantum_info import SparsePauliOp, Statevector

from executors.base import InvalidRequest
from executors.portal_client import PortalClient
from executors.portal_session import PortalSession
from tests.browser.conftest import manage, start_server

ANSATZ = """OPENQASM 2.0;
include "qelib1.inc";
qreg q[2];
ry({a}) q[0];
ry({b}) q[1];
cx q[0],q[1];
"""
OBSERVABLES = ["ZI", "IZ", "XX"]
SHOTS = 4000
# fake_manila's readout (2-3 % a qubit) and CX (~1 %) errors shrink expectation values by up to
# about 0.1 on these circuits; on top of that, 5 standard errors of a 4000-shot estimate.
NOISE = 0.12
STAT = 5 / math.sqrt(SHOTS)


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    server = start_server(tmp_path_factory.mktemp("portal"), setup=False)
    key = manage(server.env, "create_api_key", "nora").strip().splitlines()[-1]
    yield PortalClient(server.base_url, key)
    server.stop()


def exact(qasm: str) -> list[float]:
    state = Statevector(qasm2.loads(qasm))
    return [float(state.expectation_value(SparsePauliOp(label)).real) for label in OBSERVABLES]


@pytest.mark.parametrize(("profile", "slack"), [("local", 0.0), ("fake_manila", NOISE)])
def test_a_loop_of_estimator_calls_in_one_session(client, profile, slack):
    angles = [(0.3 * step, 1.1 - 0.2 * step) for step in range(6)]
    with PortalSession(client, profile=profile, mode="batch", max_time=600, name=f"loop {profile}") as session:
        assert session.id and session.mode == "batch" and session.profile == profile
        for a, b in angles:
            qasm = ANSATZ.format(a=a, b=b)
            job = session.submit([qasm], primitive="estimator", observables=[OBSERVABLES], shots=SHOTS)
            assert job["session"] == session.id and job["profile"] == profile
            assert client.wait(job["id"], timeout=120)["status"] == "done"
            (result,) = client.results(job["id"])
            assert result["evs"] == pytest.approx(exact(qasm), abs=slack + STAT)
    details = client.session(session.id)
    assert details["status"] == "closed" and details["mode"] == "batch" and len(details["jobs"]) == len(angles)
    assert {job["status"] for job in details["jobs"]} == {"done"}
    assert session.id in [s["id"] for s in client.sessions()]
    with pytest.raises(InvalidRequest, match="closed"):
        session.submit([ANSATZ.format(a=0, b=0)], primitive="estimator", observables=[OBSERVABLES])


def test_cancel_and_bad_calls(client):
    session = PortalSession(client, profile="local")
    with pytest.raises(InvalidRequest, match="not open"):
        session.submit([ANSATZ.format(a=0, b=0)])
    session.open()
    assert session.cancel()["status"] == "cancelled"
    assert session.details()["closing_at"] is not None
    with pytest.raises(InvalidRequest, match="cancelled"):
        session.submit([ANSATZ.format(a=0, b=0)])
    with pytest.raises(InvalidRequest, match="mode"):
        PortalSession(client, profile="local", mode="dedicated")
    with pytest.raises(InvalidRequest, match="max_time"):
        PortalSession(client, profile="local", max_time=-1).open()
    with pytest.raises(InvalidRequest, match="differs from the session's profile"):
        client.submit("fake_manila", [ANSATZ.format(a=0, b=0)], session=PortalSession(client, "local").open().id)
