"""A missing ``;`` is reported on the line that lacks it, not on the next statement's line."""

from __future__ import annotations

import pytest

from executors.base import InvalidRequest
from executors.circuits import parse_circuit

OQ2 = (
    'OPENQASM 2.0;\ninclude "qelib1.inc";\nqreg q[2];\ncreg c[2];\nh q[0]\n\n// next\ncx q[0],q[1];\nmeasure q -> c;\n'
)
OQ3 = 'OPENQASM 3.0;\ninclude "stdgates.inc";\nqubit[2] q;\nbit[2] c;\nh q[0]\ncx q[0], q[1];\nc = measure q;\n'


@pytest.mark.parametrize("text", [OQ2, OQ3])
def test_the_line_without_its_semicolon_is_named(text):
    with pytest.raises(InvalidRequest) as caught:
        parse_circuit({"qasm": text})
    assert caught.value.line == 5 and "line 5" in str(caught.value)


def test_a_semicolon_missing_on_the_same_line_keeps_that_line():
    text = 'OPENQASM 2.0;\ninclude "qelib1.inc";\nqreg q[2];\nh q[0] cx q[0],q[1];\n'
    with pytest.raises(InvalidRequest) as caught:
        parse_circuit({"qasm": text})
    assert caught.value.line == 4
