"""Circuit intake and request validation: every refusal is an InvalidRequest a person can act on."""

from __future__ import annotations

import base64
import io

import pytest
from qiskit import QuantumCircuit, qpy
from qiskit.circuit import Parameter

from executors import ExecutionRequest, InvalidRequest, parse_circuit, validate_request
from executors.base import ExecutorSpec
from executors.circuits import circuit_diagram, circuit_to_qasm, qasm_version, to_observables
from executors.fake_backend import FakeBackendExecutor
from tests.circuits import BELL

BELL3 = """OPENQASM 3.0;
include "stdgates.inc";
qubit[2] q;
bit[2] c;
h q[0];
cx q[0], q[1];
c = measure q;
"""


def bell() -> QuantumCircuit:
    return parse_circuit({"qasm": BELL})


def qpy_b64(*circuits: QuantumCircuit) -> str:
    buffer = io.BytesIO()
    qpy.dump(list(circuits), buffer)
    return base64.b64encode(buffer.getvalue()).decode()


def test_qasm2_and_qasm3_give_the_same_circuit():
    two = parse_circuit({"qasm": BELL, "name": "bell"})
    three = parse_circuit({"qasm": "// a comment first\n" + BELL3})
    assert two.name == "bell"
    assert (two.num_qubits, two.num_clbits) == (three.num_qubits, three.num_clbits) == (2, 2)
    assert dict(two.count_ops()) == dict(three.count_ops()) == {"h": 1, "cx": 1, "measure": 2}


def test_version_detection_ignores_comments():
    assert qasm_version("/* OPENQASM 3.0; */\nOPENQASM 2.0;") == 2
    assert qasm_version("// x\nOPENQASM 3;") == 3
    assert qasm_version("qreg q[1];") == 2


def test_legacy_qelib_gates_load():
    circuit = parse_circuit(
        {
            "qasm": 'OPENQASM 2.0;\ninclude "qelib1.inc";\nqreg q[2];\n'
            "u1(0.1) q[0];\ncu3(0.1,0.2,0.3) q[0],q[1];\nrzz(0.3) q[0],q[1];\n"
        }
    )
    assert set(circuit.count_ops()) == {"u1", "cu3", "rzz"}


@pytest.mark.parametrize(
    ("text", "line", "fragment"),
    [
        ('OPENQASM 2.0;\ninclude "qelib1.inc";\nqreg q[2];\nfoo q[0];\n', 4, "'foo' is not defined"),
        (
            'OPENQASM 2.0;\ninclude "qelib1.inc";\nqreg q[2];\nh q[0]\ncx q[0],q[1];\n',
            4,
            "needed ';'",
        ),  # the line that lacks it
        ('OPENQASM 3.0;\ninclude "stdgates.inc";\nqubit[2] q;\nh q[0]\ncx q[0], q[1];\n', 4, "expecting ';'"),
        ('OPENQASM 3.0;\ninclude "stdgates.inc";\nqubit[2] q;\nbogus q[0];\n', 4, "'bogus' is not defined"),
    ],
)
def test_malformed_qasm_names_the_line_and_the_reason(text, line, fragment):
    with pytest.raises(InvalidRequest) as caught:
        parse_circuit({"qasm": text}, index=7)
    error = caught.value
    assert (error.index, error.line) == (7, line)
    assert f"line {line}" in str(error) and fragment in str(error) and "circuit 7" in str(error)


def test_unsupported_qasm_version():
    with pytest.raises(InvalidRequest, match="OpenQASM 4 is not supported"):
        parse_circuit({"qasm": "OPENQASM 4.0;\nqubit q;"})


@pytest.mark.parametrize(
    "source",
    [{}, {"qasm": BELL, "qpy": "AAAA"}, {"qasm": ""}, {"qasm": 3}, "OPENQASM 2.0;", {"qasm": BELL, "name": 5}],
)
def test_malformed_sources(source):
    with pytest.raises(InvalidRequest):
        parse_circuit(source)


def test_qpy_round_trip_and_refusals():
    circuit = parse_circuit({"qpy": qpy_b64(bell())})
    assert dict(circuit.count_ops()) == {"h": 1, "cx": 1, "measure": 2}
    with pytest.raises(InvalidRequest, match="exactly one circuit, found 2"):
        parse_circuit({"qpy": qpy_b64(bell(), bell())})
    with pytest.raises(InvalidRequest, match="not valid base64"):
        parse_circuit({"qpy": "not base64!"})
    with pytest.raises(InvalidRequest, match="not a readable QPY"):
        parse_circuit({"qpy": base64.b64encode(b"garbage bytes").decode()})


def test_display_helpers():
    assert parse_circuit({"qasm": circuit_to_qasm(bell())}).count_ops() == bell().count_ops()
    dynamic = QuantumCircuit(1, 1)
    dynamic.measure(0, 0)
    with dynamic.if_test((dynamic.clbits[0], 1)):
        dynamic.x(0)
    assert circuit_to_qasm(dynamic).startswith("OPENQASM 3")
    assert "H" in circuit_diagram(bell())


def request(**kwargs) -> ExecutionRequest:
    kwargs.setdefault("circuits", [bell()])
    return ExecutionRequest(**kwargs)


def test_a_good_request_passes():
    validate_request(request(shots=None), max_qubits=5)
    validate_request(request(shots=100_000), max_qubits=None)


@pytest.mark.parametrize("shots", [0, -1, 10**9, 2.5, True])
def test_absurd_shots(shots):
    with pytest.raises(InvalidRequest, match="shots must be an integer between 1 and 100000"):
        validate_request(request(shots=shots), max_qubits=5)


def test_circuit_count_limits():
    with pytest.raises(InvalidRequest, match="between 1 and 1000 circuits, got 1001"):
        validate_request(request(circuits=[bell()] * 1001), max_qubits=5)
    with pytest.raises(InvalidRequest, match="got 0"):
        validate_request(request(circuits=[]), max_qubits=5)


def test_too_many_qubits_for_fake_manila():
    wide = QuantumCircuit(200, 1)
    wide.h(0)
    wide.measure(0, 0)
    executor = FakeBackendExecutor(ExecutorSpec(kind="fake", backend="fake_manila"))
    with pytest.raises(InvalidRequest) as caught:
        executor.validate(request(circuits=[bell(), wide]))
    assert str(caught.value) == "circuit 1 uses 200 qubits but fake_manila has 5"
    assert caught.value.index == 1


def test_sampler_needs_measurements():
    bare = QuantumCircuit(2)
    bare.h(0)
    with pytest.raises(InvalidRequest, match="circuit 0 has no measurements"):
        validate_request(request(circuits=[bare]), max_qubits=5)


def test_measurement_inside_control_flow_counts():
    circuit = QuantumCircuit(1, 1)
    with circuit.for_loop(range(2)):
        circuit.measure(0, 0)
    validate_request(request(circuits=[circuit]), max_qubits=5)


def test_estimator_observables():
    good = request(primitive="estimator", observables=[["ZZ", ["XX", 0.5], [["YY", 1], ["ZI", -2]], {"IZ": 1}]])
    validate_request(good, max_qubits=5)
    with pytest.raises(InvalidRequest, match="needs observables"):
        validate_request(request(primitive="estimator"), max_qubits=5)
    with pytest.raises(InvalidRequest, match="2 lists for 1 circuits"):
        validate_request(request(primitive="estimator", observables=[["ZZ"], ["ZZ"]]), max_qubits=5)
    with pytest.raises(InvalidRequest, match="acts on 3 qubits but the circuit has 2"):
        validate_request(request(primitive="estimator", observables=[["ZZZ"]]), max_qubits=5)
    with pytest.raises(InvalidRequest, match="not a Pauli label"):
        validate_request(request(primitive="estimator", observables=[["ZQ"]]), max_qubits=5)
    with pytest.raises(InvalidRequest, match="at least one observable"):
        validate_request(request(primitive="estimator", observables=[[]]), max_qubits=5)


def test_observable_forms_become_the_right_operators():
    operators = to_observables([["XX", 0.5], [["YY", 1], ["ZI", -2]]], 2)
    assert operators[0].to_list() == [("XX", 0.5)]
    assert sorted(operators[1].to_list()) == [("YY", 1), ("ZI", -2)]


def test_parameter_values_must_match():
    theta = Parameter("theta")
    circuit = QuantumCircuit(1, 1)
    circuit.ry(theta, 0)
    circuit.measure(0, 0)
    validate_request(request(circuits=[circuit], parameter_values=[[0.3]]), max_qubits=5)
    with pytest.raises(InvalidRequest, match="1 parameters but 0 values"):
        validate_request(request(circuits=[circuit]), max_qubits=5)
    with pytest.raises(InvalidRequest, match="1 parameters but 2 values"):
        validate_request(request(circuits=[circuit], parameter_values=[[0.1, 0.2]]), max_qubits=5)
    with pytest.raises(InvalidRequest, match="not a finite number"):
        validate_request(request(circuits=[circuit], parameter_values=[[float("nan")]]), max_qubits=5)
    with pytest.raises(InvalidRequest, match="0 parameters but 1 values"):
        validate_request(request(parameter_values=[[0.1]]), max_qubits=5)


def test_operation_names_include_nested_control_flow_blocks():
    from qiskit.circuit import Gate

    from executors.circuits import iter_operation_names, operation_names
    from executors.local import LocalSimulatorExecutor

    circuit = QuantumCircuit(2, 2)
    circuit.h(0)
    with circuit.for_loop(range(2)):
        with circuit.if_test((circuit.clbits[0], 1)):
            circuit.append(Gate("mystery", 1, []), [1])
    circuit.measure(0, 0)
    assert operation_names(circuit) == {"h", "for_loop", "if_else", "mystery", "measure"}
    assert operation_names(circuit) == set(iter_operation_names(circuit))
    assert LocalSimulatorExecutor().needs_transpile(circuit)  # the unknown gate hides two blocks deep
