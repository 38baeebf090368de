"""The quantum stack's pins stay inside what pennylane-qiskit declares, and are what is installed."""

from importlib.metadata import requires, version
from pathlib import Path

import pytest
from packaging.requirements import Requirement

PINS = {
    (req := Requirement(line)).name: str(next(iter(req.specifier)).version)
    for line in (Path(__file__).resolve().parent.parent / "requirements.txt").read_text().splitlines()
    if line.strip() and not line.startswith("#")
}


def _pennylane_qiskit_ranges() -> dict[str, Requirement]:
    wanted = [Requirement(text) for text in requires("pennylane-qiskit") or []]
    return {req.name: req for req in wanted if req.marker is None}


@pytest.mark.parametrize("package", ["qiskit", "qiskit-aer", "qiskit-ibm-runtime", "pennylane"])
def test_pin_is_inside_pennylane_qiskits_range(package):
    ranges = _pennylane_qiskit_ranges()
    assert package in ranges, f"pennylane-qiskit no longer declares {package}"
    assert ranges[package].specifier.contains(PINS[package]), (package, PINS[package], str(ranges[package]))


@pytest.mark.parametrize("package", ["qiskit", "qiskit-aer", "qiskit-ibm-runtime", "pennylane", "pennylane-qiskit"])
def test_installed_version_is_the_pin(package):
    assert version(package) == PINS[package]
