"""executors.device: a backend as JSON, its calibration digest, map coordinates; and the cloud
executor refreshing its cached backend (and so its calibration) after ``backend_ttl``."""

from __future__ import annotations

import asyncio
import math

import pytest
from qiskit.providers.fake_provider import GenericBackendV2

from executors.base import ExecutorSpec
from executors.device import backend_info, calibration_digest, calibration_of, qubit_coordinates
from executors.fake_backend import fake_backend
from executors.ibm_cloud import IBMCloudExecutor
from tests.executors.test_ibm_cloud import credential
from tests.ibm_standin.calibration import recalibrate


def test_a_backend_without_properties_is_read_from_its_target():
    backend = GenericBackendV2(num_qubits=4, seed=3)
    info = backend_info(backend)
    assert info["num_qubits"] == 4 and info["calibrated_at"] is None
    target = backend.target
    for q, row in enumerate(info["qubits"]):
        assert row["t1"] == target.qubit_properties[q].t1 and row["t2"] == target.qubit_properties[q].t2
        assert row["readout_error"] == target["measure"][(q,)].error
        assert row["sx_error"] == target["sx"][(q,)].error
    two = {(tuple(g["qubits"]), g["gate"]): g["error"] for g in info["gates"]}
    assert two == {(qargs, "cx"): props.error for qargs, props in target["cx"].items()}
    assert sorted(map(tuple, info["coupling_map"])) == sorted(backend.coupling_map.get_edges())


def test_digest_names_the_calibration():
    manila = calibration_of(fake_backend("fake_manila"))
    assert calibration_digest(manila) == calibration_digest(dict(reversed(manila.items())))  # key order
    changed = {
        **manila,
        "qubits": [{**manila["qubits"][0], "t1": manila["qubits"][0]["t1"] * 2}, *manila["qubits"][1:]],
    }
    assert calibration_digest(changed) != calibration_digest(manila)
    assert calibration_digest(calibration_of(fake_backend("fake_lima"))) != calibration_digest(manila)


def test_coordinates_a_path_in_a_row_and_a_heavy_hex_deterministically():
    row = qubit_coordinates(5, [[0, 1], [1, 2], [2, 3], [3, 4], [4, 3]])
    assert row == [(0.0, 0.5), (0.25, 0.5), (0.5, 0.5), (0.75, 0.5), (1.0, 0.5)]
    edges = calibration_of(fake_backend("fake_sherbrooke"))["coupling_map"]
    first, again = qubit_coordinates(127, edges), qubit_coordinates(127, edges)
    assert first == again and len(first) == 127
    assert all(0 <= x <= 1 and 0 <= y <= 1 for x, y in first)
    assert len({(round(x, 3), round(y, 3)) for x, y in first}) == 127  # no two qubits on one spot
    near = [math.dist(first[a], first[b]) for a, b in edges]
    assert max(near) < 0.25  # coupled qubits are drawn near each other


def test_cloud_backend_is_refreshed_once_older_than_its_ttl(standin):
    async def calibrations(ttl: float) -> list[float]:
        spec = ExecutorSpec(kind="ibm_cloud", backend="ibm_manila", credential=credential(standin))
        executor = IBMCloudExecutor(spec, backend_ttl=ttl, base=0.02)
        seen = [calibration_of(await executor._get_backend())["qubits"][0]["t1"]]
        recalibrate(standin, "ibm_manila", scale=0.5)
        seen.append(calibration_of(await executor._get_backend())["qubits"][0]["t1"])
        standin.calibrations.clear()
        return seen

    kept = asyncio.run(calibrations(3600.0))
    assert kept[0] == kept[1]  # within its TTL the backend object, and its calibration, are reused
    refreshed = asyncio.run(calibrations(0.0))
    assert refreshed[1] == pytest.approx(refreshed[0] * 0.5, rel=1e-12)


@pytest.mark.parametrize("name", ["fake_manila", "fake_lagos"])
def test_a_calibration_record_rebuilds_the_devices_noise(name):
    from qiskit_aer.noise import NoiseModel

    from executors.compare import noisy_probabilities
    from executors.device import backend_from_calibration
    from executors.runtime import transpile_to_isa
    from tests.circuits import bell, ghz

    backend = fake_backend(name)
    twin = backend_from_calibration(calibration_of(backend))
    assert twin.name == name and twin.num_qubits == backend.num_qubits
    for circuit in (bell(), ghz(3)):
        (isa,) = transpile_to_isa([circuit], backend, 2, 4)
        assert transpile_to_isa([circuit], twin, 2, 4)[0] == isa  # the same target to transpile for
        expected = noisy_probabilities(isa, NoiseModel.from_backend(backend))
        rebuilt = noisy_probabilities(isa, NoiseModel.from_backend(twin))
        assert set(rebuilt) == set(expected)
        assert all(rebuilt[key] == pytest.approx(value, abs=1e-12) for key, value in expected.items())
