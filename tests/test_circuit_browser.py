"""The job page's circuit browser: a paged table of summaries, one circuit opened, its histogram
with the ideal distribution where it is cheap."""

import re

import pytest
from django.urls import reverse
from qiskit import QuantumCircuit, qasm2

from executors.base import CircuitResult
from executors.ideal import ideal_probabilities
from qportal.jobs import circuit_browser, queries, stored_results
from qportal.jobs.services import Submission, submit_job
from tests.circuits import BELL

pytestmark = pytest.mark.django_db


@pytest.fixture
def as_user(client, users):
    def login(name):
        client.force_login(users[name])
        return client

    return login


def one_hot(n: int, width: int = 3) -> str:
    """A circuit whose one outcome is ``n`` written in ``width`` bits."""
    flips = "".join(f"x q[{bit}];\n" for bit in range(width) if n >> bit & 1)
    return f'OPENQASM 2.0;\ninclude "qelib1.inc";\nqreg q[{width}];\ncreg c[{width}];\n{flips}measure q -> c;\n'


def stored_job(user, count: int, done: int | None = None):
    """A job of ``count`` circuits, the first ``done`` of them with stored results (no worker)."""
    circuits = [{"qasm": one_hot(i % 8), "name": f"c{i}"} for i in range(count)]
    job = submit_job(user, Submission(profile="local", circuits=circuits, shots=10))
    done = count if done is None else done
    queries.save_results(job.id, [CircuitResult(index=i, counts={format(i % 8, "03b"): 10}) for i in range(done)])
    return job


def rows(html: str) -> list[int]:
    return [int(i) for i in re.findall(r'<tr data-index="(\d+)"', html)]


def test_the_table_pages_50_circuits_and_the_opened_one_is_selected(as_user, users):
    job = stored_job(users["alice"], 120, done=100)
    client = as_user("alice")
    page = client.get(reverse("job-detail", args=[job.id])).content.decode()
    assert rows(page) == list(range(50)) and 'id="circuit-0"' in page
    assert "Page 1 of 3" in page and 'id="circuits-next" rel="next"' in page and "circuits-previous" not in page
    assert re.search(
        r'<tr data-index="5"[^>]*>.*?<code class="top-outcome">101</code> <span class="muted small">100.0%', page, re.S
    )

    page = client.get(reverse("job-detail", args=[job.id]), {"circuit": 107}).content.decode()
    assert rows(page) == list(range(100, 120))
    assert 'data-index="107" class="selected"' in page and 'id="circuit-107"' in page and "Page 3 of 3" in page
    assert "Waiting for results" in page  # 107 has not run yet
    assert re.search(r'<tr data-index="107"[^>]*>.*?waiting', page, re.S)

    page = client.get(reverse("job-detail", args=[job.id]), {"cpage": 2}).content.decode()
    assert rows(page) == list(range(50, 100)) and 'id="circuit-50"' in page


def test_a_circuit_out_of_range_is_said_and_the_first_opened(as_user, users):
    job = stored_job(users["alice"], 3)
    client = as_user("alice")
    page = client.get(reverse("job-detail", args=[job.id]), {"circuit": 9}).content.decode()
    assert "There is no circuit 9: this job&#x27;s circuits are 0 to 2." in page and 'id="circuit-0"' in page
    for junk in ("x", "-1", "99999999999999999999", ""):
        resp = client.get(reverse("job-detail", args=[job.id]), {"circuit": junk, "cpage": junk})
        assert resp.status_code == 200 and 'id="circuit-0"' in resp.content.decode(), junk


def test_a_1000_circuit_page_reads_one_page_and_unpacks_one_distribution(
    as_user, users, monkeypatch, django_assert_max_num_queries
):
    job = stored_job(users["alice"], 1000)
    unpacked = []
    real = stored_results.unpack_counts
    monkeypatch.setattr(stored_results, "unpack_counts", lambda blob: unpacked.append(1) or real(blob))
    client = as_user("alice")
    client.get(reverse("job-detail", args=[job.id]))  # the session and caches warm
    unpacked.clear()
    with django_assert_max_num_queries(12):
        page = client.get(reverse("job-detail", args=[job.id]), {"circuit": 640}).content.decode()
    assert rows(page) == list(range(600, 650)) and len(unpacked) == 1
    assert len(page) < 100_000


def test_the_histogram_carries_the_ideal_distribution_and_its_distance(as_user, users):
    job = submit_job(users["alice"], Submission(profile="local", circuits=[{"qasm": BELL}], shots=100))
    queries.save_results(job.id, [CircuitResult(index=0, counts={"00": 60, "11": 30, "01": 10})])
    page = as_user("alice").get(reverse("job-detail", args=[job.id])).content.decode()
    ideal = dict(re.findall(r'data-key="(\d+)" data-count="\d+"[^>]*data-ideal="([\d.]+)"', page))
    assert ideal == {"00": "0.500000", "01": "0.000000", "11": "0.500000"}
    # TVD = (|0.6-0.5| + |0.3-0.5| + |0.1-0|) / 2 = 0.2
    assert "distance from ideal 0.200" in page and 'class="hist-ideal"' in page
    linear = dict(re.findall(r'data-key="(\d+)" data-count="\d+" data-linear="([\d.]+)"', page))
    assert linear == {"00": "100.00", "01": "16.67", "11": "50.00"}  # the peak is the count of 60


def test_no_ideal_for_a_wide_circuit_or_a_mid_circuit_measurement(as_user, users):
    wide = one_hot(5, width=13)
    job = submit_job(users["alice"], Submission(profile="local", circuits=[{"qasm": wide}], shots=10))
    queries.save_results(job.id, [CircuitResult(index=0, counts={format(5, "013b"): 10})])
    page = as_user("alice").get(reverse("job-detail", args=[job.id])).content.decode()
    assert "data-ideal" not in page and "hist-ideal" not in page and "distance from ideal" not in page


def test_ideal_probabilities_follow_qiskits_bit_order():
    assert ideal_probabilities(qasm2.loads(BELL)) == pytest.approx({"00": 0.5, "11": 0.5})
    circuit = QuantumCircuit(3, 4)
    circuit.x(0)
    circuit.h(2)
    circuit.measure(0, 3)  # qubit 0 into clbit 3 (the leftmost), qubit 2 into clbit 1
    circuit.measure(2, 1)
    assert ideal_probabilities(circuit) == pytest.approx({"1000": 0.5, "1010": 0.5})
    again = QuantumCircuit(1, 1)
    again.measure(0, 0)
    again.x(0)
    again.measure(0, 0)
    assert ideal_probabilities(again) is None  # measured mid-circuit: not one statevector
    assert ideal_probabilities(QuantumCircuit(13, 13)) is None


def test_histogram_bars_have_linear_and_log_lengths():
    hist = circuit_browser.histogram({"0": 1000, "1": 9})
    (zero, one) = hist["bars"]
    assert (zero["height"], zero["log"]) == (100, 100)
    assert one["height"] == pytest.approx(0.9) and one["log"] == pytest.approx(100 / 3.0004, rel=1e-3)
    assert hist["tvd"] is None and one["ideal"] is None
