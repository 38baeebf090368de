"""Sizes of a circuit source read before anything is built: declared registers, QPY headers,
gate-definition depth and the gate count once definitions are expanded.

Building a circuit costs memory in its declared size, not in its text: ``qreg q[100000000];`` is
19 bytes and gigabytes once parsed, a forged QPY header claims millions of qubits in a few bytes,
and a chain of gate definitions each calling the previous twice doubles the gate count per line.
:func:`measure_qasm` and :func:`measure_qpy` read those sizes in one pass over the text (linear in
its length, no parser, no circuit), and :func:`check_source` refuses a source over
:class:`SourceLimits` with a message that names the limit, so the request is answered before any
parser or transpiler runs.
"""

from __future__ import annotations

import base64
import binascii
import re
import struct
from collections.abc import Callable
from dataclasses import dataclass

from executors.base import InvalidRequest


@dataclass(frozen=True)
class SourceLimits:
    """What one circuit, and one job, may declare. Defaults suit a 2-CPU, 24 GiB machine."""

    max_qubits: int | None = None  # the backend's (None: only ``hard_max_qubits``)
    hard_max_qubits: int = 1000  # a backend of unknown size (IBM's largest has 156)
    max_clbits: int = 10_000
    max_operations: int = 100_000  # per circuit, gate definitions expanded, registers broadcast
    max_job_operations: int = 2_000_000  # summed over a job's circuits (copies included)
    max_definition_depth: int = 64  # gate definitions nested in each other
    max_job_qasm2_chars: int = 4_000_000  # distinct OpenQASM 2 and QPY text a job may send
    max_job_qasm3_chars: int = 50_000  # OpenQASM 3's reference parser is slow: about a second of it
    backend_name: str = "the backend"
    qubit_hint: Callable[[int], str] | None = None  # why n qubits are too many, and the way out


@dataclass(frozen=True)
class SourceShape:
    num_qubits: int
    num_clbits: int
    operations: int  # gate applications with definitions expanded (capped just above the limit)
    definition_depth: int


class _Refused(Exception):
    """A source over a limit, with the reason (no circuit index yet)."""


class _TooBig(Exception):
    """A count grew past every limit; the scan stops at once."""


# -- text ----------------------------------------------------------------------------------------
_IDENT = re.compile(r"\s*([A-Za-z_][A-Za-z0-9_]*)")
_DELIMS = re.compile(r"[;{}]")
_MODIFIERS = re.compile(r"\s*(?:ctrl|negctrl|inv|pow)\s*(?:\([^)]*\))?\s*@")
_PARAMS = re.compile(r"\([^()]*(?:\([^()]*\)[^()]*)*\)")
_QASM2_REG = re.compile(r"\s*(qreg|creg)\s+([A-Za-z_]\w*)\s*\[\s*(\d+)\s*\]\s*$")
_QASM3_REG = re.compile(
    r"\s*(qubit|bit|qreg|creg)\s*(?:\[\s*(\d+)\s*\])?\s+([A-Za-z_]\w*)\s*(?:\[\s*(\d+)\s*\])?\s*(?:=.*)?$", re.S
)
_ARG_NAME = re.compile(r"\s*([A-Za-z_]\w*)\s*$")
_QASM3_REFUSED = {
    "for": "'for' loops are not supported: unroll the loop (or build the circuit in Qiskit and send QPY)",
    "while": "'while' loops are not supported: unroll the loop (or build the circuit in Qiskit and send QPY)",
    "def": "subroutines ('def') are not supported: inline them as gates",
}
_NO_COST = {"OPENQASM", "include", "qreg", "creg", "qubit", "bit", "opaque", "gate", "input", "output", "const"}
_NO_COST |= {"int", "uint", "float", "angle", "bool", "duration", "stretch", "complex", "let", "defcalgrammar"}


def strip_comments(text: str) -> str:
    """``text`` without ``//`` and ``/* */`` comments, in one pass (an unclosed ``/*`` ends the text)."""
    out = []
    position = 0
    line = text.find("//")
    block = text.find("/*")
    while True:
        # each search runs again only once the scan has passed what it found: linear overall
        if 0 <= line < position:
            line = text.find("//", position)
        if 0 <= block < position:
            block = text.find("/*", position)
        if line < 0 and block < 0:
            out.append(text[position:])
            return "".join(out)
        if block < 0 or 0 <= line < block:
            out.append(text[position:line])
            end = text.find("\n", line)
            if end < 0:
                return "".join(out)
            position = end
        else:
            out.append(text[position:block])
            end = text.find("*/", block + 2)
            if end < 0:
                return "".join(out)
            out.append(" ")
            position = end + 2


_HUGE = 10**12  # a declared size with more digits than this is counted as this


def _count(number: str) -> int:
    return _HUGE if len(number) > 12 else int(number)


def _split_args(text: str) -> list[str]:
    text = _PARAMS.sub("", text, count=1)  # parameters of the call, e.g. rz(pi/2)
    return [part for chunk in text.split("->") for part in chunk.split(",")]


class _Scan:
    """One pass over the statements of an OpenQASM 2 or 3 text."""

    def __init__(self, text: str, version: int, limits: SourceLimits) -> None:
        self.version = version
        self.limits = limits
        self.cap = limits.max_operations
        self.qregs: dict[str, int] = {}
        self.cregs: dict[str, int] = {}
        self.gates: dict[str, tuple[int, int]] = {}  # name -> (expanded operations, depth)
        self.operations = 0
        self.depth = 0
        self.text = text

    def run(self) -> _Scan:
        try:
            self._walk(strip_comments(self.text))
        except _TooBig:
            self.operations = self.cap + 1  # stopped here: what was declared so far still counts
        return self

    # statements: text between ';', '{' and '}'; a gate's body is what lies between its braces
    def _walk(self, text: str) -> None:
        start = 0
        stack: list[str | None] = []  # per open brace: the gate being defined, or None
        body: list[str] = []
        for match in _DELIMS.finditer(text):
            statement, delim = text[start : match.start()], match.group()
            start = match.end()
            if delim == "{":
                head = _IDENT.match(statement)
                word = head.group(1) if head else ""
                if word in _QASM3_REFUSED and self.version == 3:
                    raise _Refused(f"OpenQASM 3 {_QASM3_REFUSED[word]}")
                if word in ("gate", "opaque"):
                    name = _IDENT.match(statement, head.end())
                    stack.append(name.group(1) if name else "")
                    body = []
                else:
                    stack.append(None)
                    if statement.strip():
                        self._statement(statement)  # if (...) {, else {
                continue
            if delim == "}":
                if statement.strip():
                    if stack and stack[-1] is not None:
                        body.append(statement)
                    else:
                        self._statement(statement)
                if stack:
                    gate = stack.pop()
                    if gate is not None:
                        self._define(gate, body)
                continue
            if stack and stack[-1] is not None:
                body.append(statement)
            elif statement.strip():
                self._statement(statement)
        if text[start:].strip() and not stack:
            self._statement(text[start:])

    def _callee(self, statement: str) -> tuple[str, int]:
        """The name a statement applies and the index just after it (modifiers skipped)."""
        position = 0
        while True:
            modifier = _MODIFIERS.match(statement, position)
            if not modifier:
                break
            position = modifier.end()
        head = _IDENT.match(statement, position)
        return (head.group(1), head.end()) if head else ("", position)

    def _define(self, gate: str, body: list[str]) -> None:
        operations, depth = 0, 0
        for statement in body:
            name, _ = self._callee(statement)
            cost, inner = self.gates.get(name, (1, 0))
            operations = min(operations + cost, self.cap + 1)
            depth = max(depth, inner)
        depth += 1
        if depth > self.limits.max_definition_depth:
            raise _Refused(
                f"gate definitions nest {depth} deep (gate {gate!r}); the limit is {self.limits.max_definition_depth}"
            )
        self.gates[gate] = (max(operations, 1), depth)
        self.depth = max(self.depth, depth)

    def _statement(self, statement: str) -> None:
        declared = self._declaration(statement)
        if declared:
            return
        name, end = self._callee(statement)
        if not name or name in _NO_COST:
            return
        if self.version == 3 and name in _QASM3_REFUSED:
            raise _Refused(f"OpenQASM 3 {_QASM3_REFUSED[name]}")
        cost = self.gates.get(name, (1, 0))[0]
        broadcast = 1
        for arg in _split_args(statement[end:]):
            whole = _ARG_NAME.match(arg)
            if whole:
                size = self.qregs.get(whole.group(1)) or self.cregs.get(whole.group(1)) or 1
                broadcast = max(broadcast, size)
        self.operations += cost * broadcast
        if self.operations > self.cap:
            raise _TooBig

    def _declaration(self, statement: str) -> bool:
        if self.version == 2:
            match = _QASM2_REG.match(statement)
            if not match:
                return False
            kind, name, size = match.groups()
        else:
            match = _QASM3_REG.match(statement)
            if not match:
                return False
            kind, before, name, after = match.groups()
            size = before or after or "1"
        quantum = kind in ("qreg", "qubit")
        registers = self.qregs if quantum else self.cregs
        registers[name] = min(registers.get(name, 0) + _count(size), _HUGE)
        return True


def measure_qasm(text: str, version: int, limits: SourceLimits) -> SourceShape:
    """The shape of an OpenQASM 2 or 3 text; raises ``_Refused`` past a limit."""
    scan = _Scan(text, version, limits).run()
    return SourceShape(sum(scan.qregs.values()), sum(scan.cregs.values()), scan.operations, scan.depth)


# -- QPY -----------------------------------------------------------------------------------------
def measure_qpy(payload: str) -> SourceShape:
    """Qubits, classical bits and instructions a QPY file's header declares, without loading it."""
    try:
        raw = base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError):
        raise _Refused("'qpy' is not valid base64") from None
    try:
        preface, version = struct.unpack_from("!6sB", raw)
        if preface != b"QISKIT":
            raise _Refused("not a QPY file (it does not start with 'QISKIT')")
        file_header = "!6sBBBBQ" + ("c" if version >= 10 else "")
        num_programs = struct.unpack_from(file_header, raw)[5]
        offset = struct.calcsize(file_header)
        if num_programs != 1:
            raise _Refused(f"a QPY payload must hold exactly one circuit, found {num_programs}")
        if version >= 5:
            offset += 1  # the program's type key
        if version >= 16:
            (offset,) = struct.unpack_from("!Q", raw, offset)  # the one program's byte offset
        if version < 2:
            _, _, qubits, clbits, _, _, instructions = struct.unpack_from("!HdIIQIQ", raw, offset)
        elif version < 12:
            _, _, _, qubits, clbits, _, _, instructions = struct.unpack_from("!H1cHIIQIQ", raw, offset)
        else:
            _, _, _, qubits, clbits, _, _, instructions, _ = struct.unpack_from("!H1cHIIQIQI", raw, offset)
    except struct.error:
        raise _Refused("not a readable QPY file (it ends inside its header)") from None
    return SourceShape(qubits, clbits, instructions, 0)


def _size(count: int) -> str:
    return "more than 10^12" if count >= _HUGE else str(count)


# -- the check -----------------------------------------------------------------------------------
def check_source(source_format: str, payload: str, index: int, limits: SourceLimits) -> SourceShape:
    """The shape of one source, or :class:`InvalidRequest` naming the limit it is over."""
    try:
        if source_format == "qpy":
            shape = measure_qpy(payload)
        else:
            shape = measure_qasm(payload, 3 if source_format == "qasm3" else 2, limits)
    except _Refused as refused:
        raise InvalidRequest(f"circuit {index}: {refused}", index=index) from None
    qubit_limit = min(limits.max_qubits or limits.hard_max_qubits, limits.hard_max_qubits)
    if shape.num_qubits > qubit_limit:
        who = limits.backend_name if limits.max_qubits is not None else "this portal"
        hint = limits.qubit_hint(shape.num_qubits) if limits.qubit_hint and shape.num_qubits < 64 else ""
        raise InvalidRequest(
            f"circuit {index} uses {_size(shape.num_qubits)} qubits but {who} has {qubit_limit}{hint}", index=index
        )
    if shape.num_clbits > limits.max_clbits:
        raise InvalidRequest(
            f"circuit {index} declares {_size(shape.num_clbits)} classical bits; the limit is {limits.max_clbits}",
            index=index,
        )
    if shape.operations > limits.max_operations:
        raise _too_many_operations(index, limits, "expanded and its registers broadcast")
    return shape


def _too_many_operations(index: int, limits: SourceLimits, how: str) -> InvalidRequest:
    return InvalidRequest(
        f"circuit {index} has more than {limits.max_operations} operations once its gate definitions are "
        f"{how}; split it or raise QPORTAL_MAX_CIRCUIT_OPERATIONS",
        index=index,
    )


def check_job_sources(sources: list[tuple[str, str]], limits: SourceLimits) -> list[SourceShape]:
    """Check every ``(format, text)`` of a job, and the job's totals, before any circuit is parsed.

    A text repeated in the job is measured (and later parsed) once; its copies count towards the
    job's operations, since each copy is built.
    """
    shapes: dict[tuple[str, str], SourceShape] = {}
    chars = {"qasm2": 0, "qasm3": 0, "qpy": 0}
    operations = 0
    result = []
    for index, (source_format, text) in enumerate(sources):
        key = (source_format, text)
        shape = shapes.get(key)
        if shape is None:
            chars[source_format] += len(text)
            if chars["qasm3"] > limits.max_job_qasm3_chars:
                raise InvalidRequest(
                    f"this job sends {chars['qasm3']} characters of OpenQASM 3; the limit is "
                    f"{limits.max_job_qasm3_chars} (OpenQASM 3 is slow to read): send OpenQASM 2 or QPY, "
                    "or split the job",
                    index=index,
                )
            if chars["qasm2"] + chars["qpy"] > limits.max_job_qasm2_chars:
                raise InvalidRequest(
                    f"this job sends more than {limits.max_job_qasm2_chars} characters of distinct circuit "
                    "source; split it into several jobs",
                    index=index,
                )
            shape = shapes[key] = check_source(source_format, text, index, limits)
        operations += shape.operations
        if operations > limits.max_job_operations:
            raise InvalidRequest(
                f"this job has more than {limits.max_job_operations} operations in all (circuit {index} "
                "passes the limit); split it into several jobs",
                index=index,
            )
        result.append(shape)
    return result


def expanded_operations(circuit, cap: int, max_depth: int) -> int:
    """Gate applications of a built circuit with every custom definition expanded (stops past ``cap``).

    For QPY, whose header counts only the top level; each distinct definition is counted once.
    """
    memo: dict[int, int] = {}

    def count(block, depth: int) -> int:
        if depth > max_depth:
            raise _Refused(f"gate definitions nest more than {max_depth} deep")
        total = 0
        for instruction in block.data:
            operation = instruction.operation
            blocks = getattr(operation, "blocks", ())
            if blocks:
                total += sum(count(inner, depth + 1) for inner in blocks)
            elif getattr(operation, "_definition", None) is not None and operation.name not in _STANDARD:
                key = id(operation._definition)
                if key not in memo:
                    memo[key] = max(count(operation._definition, depth + 1), 1)
                total += memo[key]
            else:
                total += 1
            if total > cap:
                return cap + 1
        return total

    return count(circuit, 0)


def check_built(circuit, index: int, limits: SourceLimits) -> None:
    """Refuse a built circuit (QPY) whose expanded operations exceed ``limits.max_operations``."""
    try:
        operations = expanded_operations(circuit, limits.max_operations, limits.max_definition_depth)
    except _Refused as refused:
        raise InvalidRequest(f"circuit {index}: {refused}", index=index) from None
    if operations > limits.max_operations:
        raise _too_many_operations(index, limits, "expanded")


_STANDARD = {"measure", "reset", "barrier", "delay"}
