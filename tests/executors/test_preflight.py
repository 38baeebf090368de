"""The pre-parse size scan agrees with the parsers: it never counts fewer qubits or operations."""

from __future__ import annotations

import pytest
from django.conf import settings

from executors.base import InvalidRequest
from executors.circuits import parse_circuit, qasm_version
from executors.preflight import SourceLimits, check_source, measure_qasm, strip_comments

UNBOUNDED = SourceLimits(max_operations=10**9)


def _programs():
    return sorted(settings.QASMBENCH_DIR.glob("*.qasm"))


@pytest.mark.parametrize("path", _programs(), ids=lambda p: p.stem)
def test_scan_matches_the_parsed_circuit(path):
    text = path.read_text()
    version = qasm_version(text)
    shape = measure_qasm(text, version, UNBOUNDED)
    try:
        circuit = parse_circuit({"qasm": text})
    except InvalidRequest:  # two programs are invalid as published (tests/test_api_qasmbench.py)
        assert shape.num_qubits > 0
        return
    assert shape.num_qubits == circuit.num_qubits
    assert shape.num_clbits == circuit.num_clbits
    assert shape.operations >= circuit.size()


def test_comments_are_stripped_in_both_styles():
    text = "qreg q[2]; // qreg r[9];\n/* creg c[5];\n */ creg d[1]; /* unclosed qreg z[7];"
    assert strip_comments(text) == "qreg q[2]; \n  creg d[1]; "
    shape = measure_qasm(text, 2, UNBOUNDED)
    assert (shape.num_qubits, shape.num_clbits) == (2, 1)


def test_gate_costs_expand_through_definitions_and_broadcast():
    text = (
        'OPENQASM 2.0;\ninclude "qelib1.inc";\nqreg q[3];\ncreg c[3];\n'
        "gate two a, b { cx a, b; h a; }\ngate four a, b { two a, b; two b, a; }\n"
        "four q[0], q[1];\nh q;\nmeasure q -> c;\nif (c == 1) x q[2];\n"
    )
    shape = measure_qasm(text, 2, UNBOUNDED)
    assert shape.operations == 4 + 3 + 3 + 1 and shape.definition_depth == 2


def test_oq3_modifiers_count_the_gate_they_modify():
    text = (
        'OPENQASM 3.0;\ninclude "stdgates.inc";\nqubit[2] q;\nbit[2] c;\n'
        "gate pair a, b { h a; cx a, b; }\nctrl @ pair q[0], q[1], q[1];\nc = measure q;\n"
    )
    assert measure_qasm(text, 3, UNBOUNDED).operations >= 2


@pytest.mark.parametrize("digits", [13, 4300, 10_000])
def test_a_huge_declared_size_is_not_converted_to_an_integer(digits):
    """Python refuses int() of more than 4300 digits with a ValueError: a 500 before this check."""
    with pytest.raises(InvalidRequest, match="uses more than 10\\^12 qubits"):
        check_source("qasm2", "qreg q[" + "9" * digits + "];", 0, SourceLimits(max_qubits=30))
