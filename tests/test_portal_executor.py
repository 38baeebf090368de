"""Notebook runs through a real portal: PortalExecutor and a qelectron land in the team's history."""

from __future__ import annotations

import asyncio
import json
import math
import urllib.request

import numpy as np
import pennylane as qml
import pytest
from qiskit import qasm2

from executors.base import ExecutionRequest
from executors.portal_client import PortalExecutor
from executors.qelectron import qelectron
from tests.browser.conftest import manage, start_server
from tests.circuits import GHZ3
from tests.stats import assert_counts_match, exact_probabilities


@pytest.fixture(scope="module")
def portal(tmp_path_factory):
    server = start_server(tmp_path_factory.mktemp("portal"), setup=False)
    key = manage(server.env, "create_api_key", "nora").strip().splitlines()[-1]
    yield server, key
    server.stop()


def history(server, key: str, **params) -> dict:
    query = "&".join(f"{k}={v}" for k, v in params.items())
    req = urllib.request.Request(f"{server.base_url}/api/v1/jobs?{query}", headers={"Authorization": f"Bearer {key}"})
    with urllib.request.urlopen(req, timeout=30) as resp:
        return json.loads(resp.read())


def test_portal_executor_run_lands_in_job_history(portal):
    server, key = portal
    executor = PortalExecutor(server.base_url, key, "local")
    request = ExecutionRequest(circuits=[qasm2.loads(GHZ3)], shots=3000, tags=["notebook"])
    result = asyncio.run(executor.run(request))
    assert_counts_match(result.circuits[0].counts, exact_probabilities(GHZ3))
    listed = history(server, key, tag="notebook")
    assert listed["count"] == 1
    job = listed["items"][0]
    assert job["id"] == result.metadata["portal_job"] and job["status"] == "done" and job["submitted_by"] == "nora"
    assert result.usage["wall_seconds"] > 0 and "qpu_seconds" not in result.usage  # the portal's record
    answer = executor.client.estimate("fake_manila", [GHZ3], shots=1000)
    assert answer["dry_run"] is True and answer["estimated_qpu_seconds"] > 2.0  # 2 s overhead plus the shots
    assert answer["counts_against_budget"] is False and history(server, key)["count"] == 1


def test_qelectron_through_the_portal_matches_the_plain_qnode(portal):
    server, key = portal
    before = history(server, key)["count"]

    @qml.set_shots(2000)
    @qml.qnode(qml.device("default.qubit", wires=2))
    def circuit(x):
        qml.IQPEmbedding(features=x, wires=[0, 1])
        qml.Hadamard(wires=1)
        return qml.probs(wires=range(2))

    exact = qml.set_shots(circuit, shots=None)([0.6, -1.57])
    remote = qelectron(circuit, executors=[PortalExecutor(server.base_url, key, "local")])
    results = [remote([0.6, -1.57])] + [
        f.result(timeout=120) for f in [remote.run_later([0.6, -1.57]) for _ in range(3)]
    ]
    for probs in results:
        assert isinstance(probs, np.ndarray) and probs.shape == (4,)
        for p, q in zip(probs, exact, strict=True):
            assert abs(p - q) <= 5 * math.sqrt(max(q * (1 - q), 1 / 2000) / 2000), (probs, exact)
    assert history(server, key)["count"] == before + 4
