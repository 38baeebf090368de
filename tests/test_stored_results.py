"""Results are stored once and packed; what is derived on reading equals what the executor gave."""

import json

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from executors.base import CircuitResult
from qportal.jobs import stored_results
from qportal.jobs.models import JobCircuit
from qportal.jobs.stored_results import pack_counts, row_values, unpack_counts
from tests.circuits import BELL, TWO_REGISTERS

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    "counts",
    [
        {"0": 3},
        {"00": 7, "11": 9, "01": 1},
        {format(v, "016b"): (v * 7919) % 97 + 1 for v in range(0, 65536, 3)},
        {format(2**63 + 5, "064b"): 2, "0" * 64: 70000},  # the widest that packs into integers
        {"1" * 65: 1, "0" * 65: 2},  # wider: kept as JSON
        {"0x3": 4, "0x0": 5},  # not bitstrings
        {"0": 1, "11": 2},  # bitstrings of two widths
        {},
    ],
    ids=["one", "two-bits", "16-bits", "64-bits", "65-bits", "hex", "ragged", "empty"],
)
def test_packing_gives_back_exactly_the_counts(counts):
    assert unpack_counts(pack_counts(counts)) == counts


def test_a_wide_distribution_packs_to_a_fraction_of_its_json():
    counts = {format(v, "016b"): 1 + v % 9 for v in range(0, 65536, 2)}
    assert len(pack_counts(counts)) * 8 < len(json.dumps(counts))


def test_one_register_and_probabilities_are_derived_not_stored():
    values = row_values(CircuitResult(index=0, counts={"00": 3, "11": 1}, register_counts={"c": {"00": 3, "11": 1}}))
    assert values["registers"] == [["c", 2]] and values["given_register_counts"] is None
    assert values["exact_probabilities"] is None and (values["shots"], values["outcomes"]) == (4, 2)
    assert (values["top_outcome"], values["top_count"]) == ("00", 3)
    circuit = JobCircuit(**{k: v for k, v in values.items()})
    assert circuit.probabilities == {"00": 0.75, "11": 0.25}
    assert circuit.register_counts == {"c": {"00": 3, "11": 1}}


def test_register_counts_that_do_not_follow_from_the_counts_are_kept_as_given():
    given = {"a": {"1": 4}, "b": {"0": 4}}
    values = row_values(CircuitResult(index=0, counts={"00": 4}, register_counts=given))
    assert values["registers"] is None and values["given_register_counts"] == given
    assert JobCircuit(**values).register_counts == given


def test_exact_probabilities_without_counts_are_stored():
    values = row_values(CircuitResult(index=0, probabilities={"0": 0.5, "1": 0.5}))
    assert values["counts_blob"] is None and JobCircuit(**values).probabilities == {"0": 0.5, "1": 0.5}


def test_two_registers_through_the_api(api_for, run_jobs):
    api = api_for("alice")
    job_id = api.post("/jobs", {"profile": "local", "circuits": [{"qasm": TWO_REGISTERS}], "shots": 400}).json()["id"]
    run_jobs()
    (result,) = api.results(job_id)
    counts = result["counts"]
    assert set(counts) == {"101", "111"} and sum(counts.values()) == 400  # b = q2 q1, then a = q0 (rightmost)
    assert result["register_counts"] == {"a": {"1": 400}, "b": {"10": counts["101"], "11": counts["111"]}}
    assert result["probabilities"] == {key: n / 400 for key, n in counts.items()}
    stored = JobCircuit.objects.get(job_id=job_id)
    assert stored.registers == [["a", 1], ["b", 2]] and stored.given_register_counts is None


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_the_migration_packs_stored_results_and_loses_nothing(api_for, run_jobs):
    """Results written before 0007 (three JSON copies) read the same after it, and back."""
    executor = MigrationExecutor(connection)
    executor.migrate([("jobs", "0006_job_ran_on")])
    try:
        old = executor.loader.project_state([("jobs", "0006_job_ran_on")]).apps
        circuits = old.get_model("jobs", "JobCircuit")
        bell = {"00": 510, "11": 490}
        two = {"a": {"1": 10}, "b": {"01": 10}}
        stored = [
            {"counts": bell, "register_counts": {"c": bell}, "probabilities": {"00": 0.51, "11": 0.49}},
            {"counts": {"011": 10}, "register_counts": two, "probabilities": {"011": 1.0}},
            {"counts": None, "register_counts": None, "probabilities": {"0": 0.25, "1": 0.75}},
        ]
        job = _old_job(old)
        for index, values in enumerate(stored):
            circuits.objects.create(
                job=job, index=index, source_format="qasm", source=BELL, num_qubits=2, done=True, **values
            )
        executor = MigrationExecutor(connection)
        executor.migrate([("jobs", "0007_compact_results")])
        # Only the columns 0007 knows: later migrations add others, not yet there at this step.
        known = ("index", "counts_blob", "shots", "registers", "given_register_counts", "exact_probabilities")
        after = {c.index: c for c in JobCircuit.objects.filter(job_id=job.id).only(*known)}
        for index, values in enumerate(stored):
            assert after[index].counts == values["counts"], index
            assert after[index].register_counts == values["register_counts"], index
            assert after[index].probabilities == values["probabilities"], index
        assert after[0].registers == [["c", 2]] and after[1].registers == [["a", 1], ["b", 2]]
        assert len(bytes(after[0].counts_blob)) < len(json.dumps(bell))
        executor = MigrationExecutor(connection)
        executor.migrate([("jobs", "0006_job_ran_on")])
        back = old.get_model("jobs", "JobCircuit").objects.filter(job_id=job.id).order_by("index")
        assert [(c.counts, c.register_counts, c.probabilities) for c in back] == [
            (v["counts"], v["register_counts"], v["probabilities"]) for v in stored
        ]
    finally:
        MigrationExecutor(connection).migrate(MigrationExecutor(connection).loader.graph.leaf_nodes())


def _old_job(apps):
    users, teams = apps.get_model("auth", "User"), apps.get_model("accounts", "Team")
    profiles, jobs = apps.get_model("profiles", "ExecutorProfile"), apps.get_model("jobs", "Job")
    user = users.objects.create(username="old")
    team = teams.objects.create(name="old lab")
    profile = profiles.objects.filter(name="local").first() or profiles.objects.create(name="old", kind="local")
    return jobs.objects.create(team=team, created_by=user, profile=profile, shots=1000, num_circuits=3)


def test_the_summary_columns_are_written_beside_the_blob():
    values = row_values(CircuitResult(index=0, counts={"1": 1, "0": 5}))
    assert set(values) >= {"counts_blob", "shots", "outcomes", "top_outcome", "top_count"}
    assert stored_results.unpack_counts(values["counts_blob"]) == {"0": 5, "1": 1}
