"""The submit page makes whole experiments (issue 17): several circuits typed or uploaded as one
job, and an example never replaces a person's work without asking."""

from __future__ import annotations

import json

from tests.browser.conftest import login, save_shot
from tests.circuits import BELL, GHZ3

OQ3 = 'OPENQASM 3.0;\ninclude "stdgates.inc";\nqubit[1] q;\nbit[1] c;\nx q[0];\nc[0] = measure q[0];\n'


def test_three_uploaded_files_make_one_job_of_three_circuits(server, chromium, tmp_path):
    page = login(chromium, server.base_url, "alice")
    page.goto(f"{server.base_url}/jobs/new/")
    page.fill("#qasm-0", "")
    files = []
    for name, text in (("bell.qasm", BELL), ("ghz.qasm", GHZ3), ("flip.qasm", OQ3)):
        path = tmp_path / name
        path.write_text(text)
        files.append(str(path))
    page.set_input_files("#files", files)
    page.fill("input[name=name]", "three files")
    page.fill("input[name=shots]", "200")
    save_shot(page, tmp_path, "submit-upload-1300", full_page=False)
    page.click("#submit")
    page.wait_for_url(f"{server.base_url}/jobs/*/")
    job_id = page.url.rstrip("/").rsplit("/", 1)[-1]
    page.wait_for_selector("#status-badge.done, .badge.big.done", timeout=60_000)
    detail = json.loads(page.evaluate(f"fetch('/api/v1/jobs/{job_id}').then(r => r.text())"))
    assert detail["num_circuits"] == 3 and detail["name"] == "three files"
    assert [r["num_qubits"] for r in detail["results"]] == [2, 3, 1]
    results = json.loads(page.evaluate(f"fetch('/api/v1/jobs/{job_id}/results').then(r => r.text())"))
    assert results["items"][2]["counts"] == {"1": 200} and detail["results"][2]["top_outcome"] == "1"
    page.context.close()


def test_added_circuits_go_into_one_job(server, chromium, tmp_path):
    page = login(chromium, server.base_url, "alice")
    page.set_viewport_size({"width": 390, "height": 900})
    page.goto(f"{server.base_url}/jobs/new/")
    page.click("#add-circuit")
    page.fill("#qasm-1", GHZ3)
    save_shot(page, tmp_path, "submit-two-circuits-390")
    page.click("#submit")
    page.wait_for_url(f"{server.base_url}/jobs/*/")
    job_id = page.url.rstrip("/").rsplit("/", 1)[-1]
    detail = json.loads(page.evaluate(f"fetch('/api/v1/jobs/{job_id}').then(r => r.text())"))
    assert detail["num_circuits"] == 2 and [r["num_qubits"] for r in detail["results"]] == [2, 3]
    page.context.close()


def test_an_example_asks_before_replacing_work(server, chromium, tmp_path):
    page = login(chromium, server.base_url, "alice")
    page.goto(f"{server.base_url}/jobs/new/")
    page.fill("#qasm-0", "// my own work\n" + BELL)
    asked = []

    def refuse(dialog):
        asked.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", refuse)
    page.select_option("#example", "bell_n4")
    page.wait_for_timeout(300)
    assert asked and "bell_n4" in asked[0]
    assert page.input_value("#qasm-0").startswith("// my own work")
    page.remove_listener("dialog", refuse)
    page.on("dialog", lambda dialog: dialog.accept())
    page.select_option("#example", "bell_n4")
    page.wait_for_function(
        "document.querySelector('#qasm-0').value.includes('OPENQASM')"
        " && !document.querySelector('#qasm-0').value.startsWith('// my own work')"
    )
    page.context.close()
