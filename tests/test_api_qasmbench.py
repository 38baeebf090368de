"""Every QASMBench program with at most 10 qubits runs on `local` or is refused with a clear 4xx."""

from __future__ import annotations

import re

from django.conf import settings

from qportal.jobs.models import Job

# Refused programs and why: both files use a register `q` they never declare (their qreg is
# named differently), so they are invalid OpenQASM 2 as published.
EXPECTED_REFUSALS = {
    "vqe_uccsd_n4": "line 225: 'q' is not defined",
    "vqe_uccsd_n6": "line 2286: 'q' is not defined",
}
SHOTS = 256


def small_programs() -> dict[str, str]:
    programs = {}
    for path in sorted(settings.QASMBENCH_DIR.glob("*.qasm")):
        match = re.search(r"_n(\d+)$", path.stem)
        if match and int(match.group(1)) <= 10:
            programs[path.stem] = path.read_text()
    return programs


def test_small_qasmbench_programs_run_or_are_refused_clearly(api_for, run_jobs):
    programs = small_programs()
    assert len(programs) >= 35, "QASMBench corpus not found or incomplete"
    api = api_for("alice")
    accepted, refused = {}, {}
    for name, text in programs.items():
        resp = api.post(
            "/jobs", {"profile": "local", "circuits": [{"qasm": text, "name": name}], "shots": SHOTS, "name": name}
        )
        if resp.status_code == 201:
            accepted[name] = resp.json()["id"]
        else:
            assert resp.status_code == 400, (name, resp.content)
            refused[name] = resp.json()["detail"]
    assert set(refused) == set(EXPECTED_REFUSALS), refused
    for name, reason in EXPECTED_REFUSALS.items():
        assert reason in refused[name], (name, refused[name])
    assert Job.objects.count() == len(accepted)

    run_jobs(timeout=600)
    for name, job_id in accepted.items():
        job = api.job_with_results(job_id)
        assert job["status"] == "done", (name, job["error"])
        counts = job["results"][0]["counts"]
        assert sum(counts.values()) == SHOTS, name
        width = len(next(iter(counts)))
        assert all(len(key) == width and set(key) <= {"0", "1"} for key in counts), name
