"""Backend pages and ``GET /api/v1/backends/{name}``: fake backends read live, cloud backends as the
worker's scheduled refresh recorded them; numbers equal the backend's own properties."""

from __future__ import annotations

import asyncio
import re
from datetime import datetime

import pytest
from django.test import Client

from executors.fake_backend import fake_backend
from qportal.jobs import device_refresh
from qportal.jobs.models import Calibration
from qportal.profiles.models import ExecutorProfile
from tests.test_cloud_jobs import cloud_setup

pytestmark = pytest.mark.django_db


def assert_matches_properties(info: dict, backend, *, wall_clock: bool = False) -> None:
    """Every number of ``info`` equals ``backend.properties()``'s (the fake backend's own record).
    ``wall_clock``: the calibration time is compared without its zone (qiskit-ibm-runtime reads the
    stored ``-03:00`` of a fake backend's file as UTC)."""
    props = backend.properties()
    assert info["num_qubits"] == backend.num_qubits == len(info["qubits"])
    if wall_clock:
        when = datetime.fromisoformat(info["calibrated_at"]).replace(tzinfo=None)
        assert when == props.last_update_date.replace(tzinfo=None)
    else:
        assert info["calibrated_at"] == props.last_update_date.isoformat()
    assert sorted(map(tuple, info["coupling_map"])) == sorted(backend.coupling_map.get_edges())
    for q, row in enumerate(info["qubits"]):
        assert row["qubit"] == q
        assert row["t1"] == props.t1(q) and row["t2"] == props.t2(q)
        assert row["readout_error"] == props.readout_error(q)
        assert row["sx_error"] == props.gate_error("sx", q)
    two = {(tuple(g["qubits"]), g["gate"]): g for g in info["gates"]}
    expected = {(tuple(g.qubits), g.gate) for g in props.gates if len(g.qubits) == 2}
    assert set(two) == expected and expected
    for (qubits, gate), row in two.items():
        assert row["error"] == props.gate_error(gate, list(qubits))
        assert row["duration"] == pytest.approx(props.gate_length(gate, list(qubits)), rel=1e-12)


def test_fake_backend_api_equals_its_properties(api_for):
    resp = api_for("alice").get("/backends/fake_manila", profile="fake_manila")
    assert resp.status_code == 200, resp.content
    info = resp.json()
    assert info["name"] == "fake_manila" and info["processor"].startswith("Falcon")
    assert info["basis_gates"] == ["cx", "id", "rz", "sx", "x"] and info["pending_jobs"] == 0
    assert_matches_properties(info, fake_backend("fake_manila"))


def test_a_larger_fake_backend_too(api_for):
    info = api_for("bob").get("/backends/fake_lagos", profile="fake_manila").json()
    assert info["num_qubits"] == 7
    assert_matches_properties(info, fake_backend("fake_lagos"))


def test_access_and_unknown_names_are_404(api_for, users):
    ExecutorProfile.objects.create(team=users["lab"], name="labfake", kind="fake", backend="fake_manila")
    assert api_for("bob").get("/backends/fake_manila", profile="labfake").status_code == 200
    outsider = api_for("charlie").get("/backends/fake_manila", profile="labfake")
    assert outsider.status_code == 404 and "labfake" in outsider.json()["detail"]
    unknown = api_for("alice").get("/backends/fake_nowhere", profile="fake_manila")
    assert unknown.status_code == 404 and "fake_nowhere" in unknown.json()["detail"]
    local = api_for("alice").get("/backends/aer_simulator", profile="local")
    assert local.status_code == 404 and "no device" in local.json()["detail"]
    assert api_for(None).get("/backends/fake_manila", profile="fake_manila").status_code == 401


def test_page_draws_the_map_coloured_by_choice(users):
    client = Client()
    client.force_login(users["alice"])
    backend = fake_backend("fake_manila")
    props = backend.properties()
    for colour, value in (("t1", props.t1), ("t2", props.t2), ("readout_error", props.readout_error)):
        page = client.get(f"/backends/fake_manila/?profile=fake_manila&colour={colour}").content.decode()
        assert f'data-colour="{colour}"' in page
        nodes = dict(re.findall(r'<g class="qubit" data-qubit="(\d)" data-value="([^"]+)"', page))
        assert {int(q): float(v) for q, v in nodes.items()} == {q: value(q) for q in range(5)}
        assert sorted(re.findall(r'data-edge="(\d-\d)"', page)) == ["0-1", "1-2", "2-3", "3-4"]
        fills = re.findall(r'<circle [^>]*fill="(#[0-9a-f]{6})"', page)
        assert len(fills) == 5 and len(set(fills)) > 1  # coloured by the value, not one colour
    for edge in ("0-1", "3-4"):
        a, b = map(int, edge.split("-"))
        best = min(props.gate_error("cx", [a, b]), props.gate_error("cx", [b, a]))
        assert f'data-edge="{edge}" data-error="{best:.4f}"' in page
    assert "131.53" in page  # qubit 0's T1 in µs, in the table
    assert client.get("/backends/fake_manila/?profile=nope").status_code == 404
    listing = client.get("/profiles/").content.decode()
    assert 'href="/backends/fake_manila/?profile=fake_manila"' in listing


def test_cloud_backend_page_reads_the_worker_refresh(api_for, users, standin):
    api = api_for("alice")
    cloud_setup(api, users["lab"], standin)
    missing = api.get("/backends/ibm_manila", profile="cloud")
    assert missing.status_code == 404  # the credential has listed no backends yet
    standin.queue_lengths["ibm_manila"] = 7
    cred = ExecutorProfile.objects.get(name="cloud").credential
    assert device_refresh.refresh_credential(cred.id) == 3
    assert Calibration.objects.count() == 3  # one calibration per backend
    assert device_refresh.refresh_credential(cred.id) == 3
    assert Calibration.objects.count() == 3  # the same calibrations again: no new rows
    info = api.get("/backends/ibm_manila", profile="cloud").json()
    assert info["source"] == "cloud" and info["pending_jobs"] == 7 and info["name"] == "ibm_manila"
    assert_matches_properties(info, standin._fake("ibm_manila"), wall_clock=True)
    listed = api.get("/backends", profile="cloud").json()
    assert {b["name"]: b["pending_jobs"] for b in listed["backends"]}["ibm_manila"] == 7
    client = Client()
    client.force_login(users["bob"])
    page = client.get("/backends/ibm_manila/?profile=cloud").content.decode()
    assert page.count('<g class="qubit"') == 5 and "7 pending jobs" in page
    outsider = Client()
    outsider.force_login(users["charlie"])
    assert outsider.get("/backends/ibm_manila/?profile=cloud").status_code == 404


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_the_workers_scheduled_loop_refreshes_cloud_backends(users, standin, settings):
    from asgiref.sync import async_to_sync, sync_to_async

    from qportal import settings as defaults
    from qportal.accounts.models import IBMCredential

    assert "qportal.jobs.device_refresh.run_forever" in defaults.WORKER_LOOPS  # every worker runs it
    cred = IBMCredential(team=users["lab"], name="standin", url=standin.url, instance=standin.crn, status="valid")
    cred.proxies = standin.proxies
    cred.set_token(standin.token)
    cred.save()
    settings.BACKEND_REFRESH_SECONDS = 3600
    standin.queue_lengths["ibm_quito"] = 3

    def refreshed() -> bool:
        rows = IBMCredential.objects.get(name="standin").backends
        return len(rows) == 3 and all(row.get("calibrated_at") for row in rows)

    async def one_pass():
        loop = asyncio.ensure_future(device_refresh.run_forever(None))
        for _ in range(600):
            await asyncio.sleep(0.05)
            if await sync_to_async(refreshed)():  # the last write of a pass
                break
        loop.cancel()

    async_to_sync(one_pass)()
    assert sorted(Calibration.objects.values_list("backend", flat=True)) == ["ibm_lima", "ibm_manila", "ibm_quito"]
    rows = {b["name"]: b for b in IBMCredential.objects.get(name="standin").backends}
    assert rows["ibm_quito"]["pending_jobs"] == 3 and rows["ibm_quito"]["calibrated_at"]
