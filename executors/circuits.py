"""Circuit intake: OpenQASM 2/3 and QPY into ``QuantumCircuit``, and request validation.

Every refusal is an :class:`~executors.base.InvalidRequest` whose message a person can act on;
``index`` names the circuit and, for QASM, ``line`` the offending line.
"""

from __future__ import annotations

import base64
import binascii
import io
import math
import numbers
import re
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from qiskit import QuantumCircuit, qasm2, qasm3, qpy
from qiskit.circuit import ControlFlowOp
from qiskit.circuit.controlflow import CONTROL_FLOW_OP_NAMES
from qiskit.quantum_info import Pauli, SparsePauliOp

from executors import sweeps
from executors.base import MAX_CIRCUITS, MAX_SHOTS, ExecutionRequest, InvalidRequest
from executors.observables import observable_operator, operator_label
from executors.preflight import strip_comments

MAX_SOURCE_CHARS = 5_000_000
MAX_NAME_CHARS = 200

_VERSION = re.compile(r"^\s*OPENQASM\s+([0-9]+)", re.M)
# qiskit.qasm2 and qiskit.qasm3 report "<input>:4,0: ..." / "4,0: ...";
# the openqasm3 reference parser reports "L4:C0: ...".
_POSITION = re.compile(r"^(?:<input>:)?(\d+),(\d+):\s*(.*)$", re.S)
_POSITION_L = re.compile(r"^L(\d+):C(\d+):\s*(.*)$", re.S)


def qasm_version(text: str) -> int:
    """Major OpenQASM version declared by the header; 2 when there is no header."""
    match = _VERSION.search(strip_comments(text))
    return int(match.group(1)) if match else 2


def parse_circuit(source: Mapping[str, Any], index: int = 0) -> QuantumCircuit:
    """Parse ``{"qasm": text}`` or ``{"qpy": base64}`` (optional ``"name"``) into a circuit.

    OpenQASM 3 is recognised by its ``OPENQASM 3`` header; anything else is read as OpenQASM 2
    with Qiskit's legacy gate set (``u1``, ``cu3``, ``rzz``...) so QASMBench programs load.
    A QPY payload must hold exactly one circuit.
    """
    if not isinstance(source, Mapping):
        raise InvalidRequest(f"circuit {index}: expected an object with 'qasm' or 'qpy'", index=index)
    formats = [key for key in ("qasm", "qpy") if key in source]
    if len(formats) != 1:
        raise InvalidRequest(f"circuit {index}: give exactly one of 'qasm' or 'qpy'", index=index)
    payload = source[formats[0]]
    if not isinstance(payload, str) or not payload.strip():
        raise InvalidRequest(f"circuit {index}: '{formats[0]}' must be a non-empty string", index=index)
    if len(payload) > MAX_SOURCE_CHARS:
        raise InvalidRequest(
            f"circuit {index}: source is {len(payload)} characters; the limit is {MAX_SOURCE_CHARS}",
            index=index,
        )
    circuit = _parse_qasm(payload, index) if formats[0] == "qasm" else _parse_qpy(payload, index)
    name = source.get("name")
    if name is not None:
        if not isinstance(name, str) or len(name) > MAX_NAME_CHARS:
            raise InvalidRequest(
                f"circuit {index}: 'name' must be a string of at most {MAX_NAME_CHARS} characters",
                index=index,
            )
        circuit.name = name
    if circuit.num_qubits == 0:
        raise InvalidRequest(f"circuit {index} has no qubits", index=index)
    return circuit


def _parse_qasm(text: str, index: int) -> QuantumCircuit:
    version = qasm_version(text)
    try:
        if version == 3:
            return qasm3.loads(text)
        if version == 2:
            return qasm2.loads(text, custom_instructions=qasm2.LEGACY_CUSTOM_INSTRUCTIONS)
    except Exception as exc:  # noqa: BLE001 - the parsers raise several unrelated types
        line, reason = _qasm_error_position(exc)
        if line is not None and "';'" in reason:
            line = _line_missing_semicolon(text, line)
        where = f" line {line}" if line is not None else ""
        raise InvalidRequest(
            f"circuit {index}: invalid OpenQASM {version} at{where or ' an unknown line'}: {reason}",
            index=index,
            line=line,
        ) from exc
    raise InvalidRequest(f"circuit {index}: OpenQASM {version} is not supported (use 2.0 or 3.0)", index=index)


def _line_missing_semicolon(text: str, line: int) -> int:
    """The parsers find a missing ``;`` at the next token, often on the next line: the statement
    that lacks it is the last non-blank line before, when that line does not end a statement."""
    lines = text.splitlines()
    for number in range(min(line, len(lines) + 1) - 1, 0, -1):
        code = lines[number - 1].split("//", 1)[0].strip()
        if code:
            return line if code.endswith((";", "{", "}")) else number
    return line


def _qasm_error_position(exc: BaseException) -> tuple[int | None, str]:
    """Line number and reason from a QASM parser error (or the error that caused it)."""
    fallback = ""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        message = str(current).strip().strip('"')
        for pattern in (_POSITION, _POSITION_L):
            match = pattern.match(message)
            if match:
                return int(match.group(1)), match.group(3).strip() or "syntax error"
        for candidate in (current, *current.args):
            token = getattr(candidate, "offendingToken", None)
            if token is not None and getattr(token, "line", None):
                return token.line, _antlr_reason(candidate, token)
        fallback = fallback or message
        current = current.__cause__ or current.__context__
    return None, fallback or type(exc).__name__


def _antlr_reason(error: Any, token: Any) -> str:
    """ "unexpected 'cx', expecting ';'" from an ANTLR recognition error (OpenQASM 3 syntax)."""
    reason = "unexpected end of file" if token.text == "<EOF>" else f"unexpected {token.text!r}"
    try:
        recognizer = error.recognizer
        expected = error.getExpectedTokens().toString(recognizer.literalNames, recognizer.symbolicNames)
    except Exception:  # noqa: BLE001 - the hint is optional; the line number is what matters
        return reason
    return f"{reason}, expecting {expected}"


def _parse_qpy(payload: str, index: int) -> QuantumCircuit:
    try:
        raw = base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise InvalidRequest(f"circuit {index}: 'qpy' is not valid base64", index=index) from exc
    try:
        programs = qpy.load(io.BytesIO(raw))
    except Exception as exc:  # noqa: BLE001 - qpy raises QpyError, struct.error, ValueError...
        raise InvalidRequest(f"circuit {index}: not a readable QPY file ({exc})", index=index) from exc
    if len(programs) != 1 or not isinstance(programs[0], QuantumCircuit):
        raise InvalidRequest(
            f"circuit {index}: a QPY payload must hold exactly one circuit, found {len(programs)}",
            index=index,
        )
    return programs[0]


def iter_operation_names(circuit: QuantumCircuit) -> Iterator[str]:
    """Names of every operation, including those inside control-flow blocks."""
    for instruction in circuit.data:
        operation = instruction.operation
        yield operation.name
        if isinstance(operation, ControlFlowOp):
            for block in operation.blocks:
                yield from iter_operation_names(block)


def operation_names(circuit: QuantumCircuit) -> set[str]:
    """The distinct operation names, including those inside control-flow blocks.

    Counted by Qiskit's native ``count_ops``, which is far cheaper than walking every instruction
    in Python (bench/README.md, "Figures behind the code"); blocks are walked only when the circuit has some.
    """
    names = set(circuit.count_ops())
    if names & CONTROL_FLOW_OP_NAMES:
        for instruction in circuit.data:
            if isinstance(instruction.operation, ControlFlowOp):
                for block in instruction.operation.blocks:
                    names |= operation_names(block)
    return names


def has_measurement(circuit: QuantumCircuit) -> bool:
    return "measure" in operation_names(circuit)


def validate_request(request: ExecutionRequest, max_qubits: int | None, backend_name: str = "the backend") -> None:
    """Raise :class:`InvalidRequest` unless ``request`` can run on a backend of ``max_qubits``."""
    circuits = request.circuits
    if not isinstance(circuits, Sequence) or not 1 <= len(circuits) <= MAX_CIRCUITS:
        count = len(circuits) if isinstance(circuits, Sequence) else 0
        raise InvalidRequest(f"a job needs between 1 and {MAX_CIRCUITS} circuits, got {count}")
    if request.primitive not in ("sampler", "estimator"):
        raise InvalidRequest(f"unknown primitive {request.primitive!r}; use 'sampler' or 'estimator'")
    shots = request.shots
    if shots is not None and (isinstance(shots, bool) or not isinstance(shots, int) or not 1 <= shots <= MAX_SHOTS):
        raise InvalidRequest(f"shots must be an integer between 1 and {MAX_SHOTS}, got {shots!r}")
    values = request.parameter_values
    if values is not None and len(values) != len(circuits):
        raise InvalidRequest(f"parameter_values has {len(values)} entries for {len(circuits)} circuits")
    for name in ("pub_shots", "precisions"):
        given = getattr(request, name)
        if given is not None and len(given) != len(circuits):
            raise InvalidRequest(f"{name} has {len(given)} entries for {len(circuits)} circuits")
    if request.sources is not None and len(request.sources) != len(circuits):
        raise InvalidRequest(f"sources has {len(request.sources)} entries for {len(circuits)} circuits")
    if request.memory and request.primitive != "sampler":
        raise InvalidRequest(
            "memory keeps each shot's outcome, which only a sampler job has; "
            "an estimator job returns expectation values: leave memory off"
        )
    observables = request.observables
    if request.primitive == "estimator":
        if observables is None:
            raise InvalidRequest("an estimator job needs observables, one list per circuit")
        if len(observables) != len(circuits):
            raise InvalidRequest(
                f"an estimator job needs one observable list per circuit: "
                f"{len(observables)} lists for {len(circuits)} circuits"
            )
    swept = 0
    for index, circuit in enumerate(circuits):
        if not isinstance(circuit, QuantumCircuit):
            raise InvalidRequest(f"circuit {index} is not a QuantumCircuit", index=index)
        if circuit.num_qubits == 0:
            raise InvalidRequest(f"circuit {index} has no qubits", index=index)
        if max_qubits is not None and circuit.num_qubits > max_qubits:
            raise InvalidRequest(
                f"circuit {index} uses {circuit.num_qubits} qubits but {backend_name} has {max_qubits}",
                index=index,
            )
        if sweeps.needs_pub_check(request, index):
            swept += math.prod(sweeps.check_request_pub(request, index))  # a sweep or per-PUB shots/precision
            if swept > sweeps.MAX_JOB_VALUES:
                raise InvalidRequest(
                    f"circuit {index}: the job's PUBs hold over {sweeps.MAX_JOB_VALUES} bindings or values together",
                    index=index,
                )
        else:
            parameter_values(circuit, values[index] if values is not None else None, index)
        if request.primitive == "sampler" and not has_measurement(circuit):
            raise InvalidRequest(
                f"circuit {index} has no measurements, so a sampler would return nothing; "
                "add 'measure' instructions (or run it with the estimator)",
                index=index,
            )
        if request.primitive == "estimator" and not sweeps.needs_pub_check(request, index):
            to_observables(observables[index], circuit.num_qubits, index)


def parameter_values(circuit: QuantumCircuit, values: Sequence[float] | None, index: int = 0) -> list[float] | None:
    """Checked parameter values for ``circuit`` (in ``circuit.parameters`` order), or None."""
    expected = circuit.num_parameters
    given = 0 if values is None else len(values)
    if given != expected:
        raise InvalidRequest(
            f"circuit {index} has {expected} parameters but {given} values were given",
            index=index,
        )
    if values is None or expected == 0:
        return None
    checked = []
    for value in values:
        if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
            raise InvalidRequest(f"circuit {index}: parameter value {value!r} is not a finite number", index=index)
        checked.append(float(value))
    return checked


def to_observables(entry: Any, num_qubits: int, index: int = 0) -> list[SparsePauliOp]:
    """Observables for one circuit as ``SparsePauliOp`` (one per expectation value).

    ``entry`` is a list whose items are each one observable: a Pauli label (``"ZZ"``), a
    ``(label, coeff)`` pair, a list of such pairs or a ``{label: coeff}`` dict (summed), or a
    Qiskit ``Pauli``/``SparsePauliOp``.  A bare label or operator is taken as a one-item list.
    """
    if isinstance(entry, (str, Pauli, SparsePauliOp, Mapping)):
        entry = [entry]
    if not isinstance(entry, Sequence) or len(entry) == 0:
        raise InvalidRequest(f"circuit {index}: give at least one observable", index=index)
    operators = [observable_operator(item, index) for item in entry]
    for operator in operators:
        if operator.num_qubits != num_qubits:
            raise InvalidRequest(
                f"circuit {index}: observable {operator_label(operator)} acts on {operator.num_qubits} "
                f"qubits but the circuit has {num_qubits}",
                index=index,
            )
    return operators


def circuit_to_qasm(circuit: QuantumCircuit) -> str:
    """OpenQASM text for display: OpenQASM 2 when it can express the circuit, else OpenQASM 3."""
    try:
        return qasm2.dumps(circuit)
    except Exception:  # noqa: BLE001 - qasm2 refuses control flow, some gates, etc.
        return qasm3.dumps(circuit)


def circuit_diagram(circuit: QuantumCircuit, fold: int = 100) -> str:
    """Plain-text drawing of ``circuit``; ``fold`` is the line width (-1 for no folding)."""
    return str(circuit.draw(output="text", fold=fold))
