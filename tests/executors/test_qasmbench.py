"""Every QASMBench program of at most 10 qubits either runs on the local executor or is refused
with a reason we expect; a change in either direction fails this test."""

from __future__ import annotations

import os
import re
from pathlib import Path

from executors import ExecutionRequest, ExecutorSpec, InvalidRequest, build_executor, parse_circuit
from tests.stats import assert_counts_match_grouped, exact_probabilities

QASMBENCH = Path(
    os.environ.get("QPORTAL_QASMBENCH_DIR", Path(__file__).resolve().parents[2] / "examples" / "qasmbench")
)
MAX_QUBITS = 10
SHOTS = 2000

# program -> fragment of the refusal message
EXPECTED_REFUSALS = {
    # both files measure into 'q' and 'c', which they never declare (their register is 'reg')
    "vqe_uccsd_n4.qasm": "line 225: 'q' is not defined in this scope",
    "vqe_uccsd_n6.qasm": "line 2286: 'q' is not defined in this scope",
}


def declared_qubits(path: Path) -> int:
    """Qubits the file declares (from its text, so unparseable files are counted too)."""
    text = path.read_text()
    return sum(int(size) for size in re.findall(r"^\s*qreg\s+\w+\s*\[\s*(\d+)\s*\]", text, re.M))


def small_programs() -> list[Path]:
    return sorted(p for p in QASMBENCH.glob("*.qasm") if declared_qubits(p) <= MAX_QUBITS)


async def test_small_qasmbench_programs_run_or_are_refused_as_expected():
    programs = small_programs()
    assert len(programs) >= 30
    executor = build_executor(ExecutorSpec(kind="local", options={"seed": 5}))
    accepted, names, refused = [], [], {}
    for path in programs:
        try:
            circuit = parse_circuit({"qasm": path.read_text(), "name": path.stem})
            executor.validate(ExecutionRequest(circuits=[circuit], shots=SHOTS))
        except InvalidRequest as error:
            refused[path.name] = str(error)
            continue
        accepted.append(circuit)
        names.append(path.name)
    assert set(refused) == set(EXPECTED_REFUSALS), refused
    for name, fragment in EXPECTED_REFUSALS.items():
        assert fragment in refused[name]
    result = await executor.run(ExecutionRequest(circuits=accepted, shots=SHOTS))
    checked = []
    assert [c.index for c in result.circuits] == list(range(len(accepted)))
    for name, circuit, circuit_result in zip(names, accepted, result.circuits, strict=True):
        assert sum(circuit_result.counts.values()) == SHOTS, name
        assert all(len(key) == circuit.num_clbits for key in circuit_result.counts), name
        if measurements_are_final(circuit):
            checked.append(name)
            assert_counts_match_grouped(circuit_result.counts, exact_probabilities(circuit), SHOTS)
    assert len(checked) >= 25, checked


def measurements_are_final(circuit) -> bool:
    """True when no gate, reset or condition follows a measurement (the statevector is exact)."""
    stripped = circuit.remove_final_measurements(inplace=False)
    return not {"measure", "reset", "if_else"} & set(stripped.count_ops())
