"""fake_manila's backend page in headless Chromium: its 5-qubit map, and the numbers on it are the
fake backend's own properties."""

from __future__ import annotations

import pytest

from executors.fake_backend import fake_backend
from tests.browser.conftest import login, save_shot

pytestmark = pytest.mark.browser


def texts(locator) -> list[str]:
    """The text of SVG elements (which have no ``innerText``)."""
    return locator.evaluate_all("els => els.map(e => e.textContent)")


def test_fake_manila_page_shows_its_map_and_its_properties(server, chromium, tmp_path):
    base = server.base_url
    props = fake_backend("fake_manila").properties()
    page = login(chromium, base, "alice")
    page.goto(f"{base}/profiles/")
    page.click('tr[data-profile="fake_manila"] a[data-backend-link="fake_manila"]')
    page.wait_for_url(f"{base}/backends/fake_manila/?profile=fake_manila")
    assert page.inner_text("h1") == "fake_manila" and page.inner_text("#num-qubits") == "5"
    svg = page.locator("svg.device-map")
    assert svg.is_visible() and svg.locator("circle").count() == 5 and svg.locator("line").count() == 4
    assert page.inner_text("#calibrated-at") == props.last_update_date.isoformat()

    # Coloured by T1 first: each node's number is the qubit's T1 in µs, its title says so.
    shown = texts(svg.locator(".qubit text.value"))
    assert shown == [f"{props.t1(q) * 1e6:.1f}" for q in range(5)]
    for q in range(5):
        row = page.locator(f'#qubit-table tr[data-qubit="{q}"]')
        cells = row.locator("td").all_inner_texts()
        assert cells[1] == f"{props.t1(q) * 1e6:.2f}" and cells[2] == f"{props.t2(q) * 1e6:.2f}"
        assert cells[3] == f"{props.readout_error(q):.4f}" and cells[4] == f"{props.gate_error('sx', q):.6f}"
        assert float(row.get_attribute("data-t1")) == props.t1(q)
        assert float(row.get_attribute("data-readout-error")) == props.readout_error(q)
    for a, b in ((0, 1), (1, 2), (2, 3), (3, 4)):
        edge = svg.locator(f'g.edge[data-edge="{a}-{b}"]')
        best = min(props.gate_error("cx", [a, b]), props.gate_error("cx", [b, a]))
        assert edge.locator("text").text_content() == f"{best:.4f}"
    save_shot(page, tmp_path, "backend-fake-manila-t1")

    # The selector recolours the map by readout error; the numbers follow.
    before = svg.locator("circle").evaluate_all("els => els.map(e => e.getAttribute('fill'))")
    page.select_option("#colour", value="readout_error")
    page.click("text=Show")
    page.wait_for_url("**colour=readout_error**")
    svg = page.locator("svg.device-map")
    assert svg.get_attribute("data-colour") == "readout_error"
    shown = texts(svg.locator(".qubit text.value"))
    assert shown == [f"{props.readout_error(q):.4f}" for q in range(5)]
    after = svg.locator("circle").evaluate_all("els => els.map(e => e.getAttribute('fill'))")
    assert after != before and len(set(after)) > 1
    worst = max(range(5), key=props.readout_error)
    assert svg.locator(f'g.qubit[data-qubit="{worst}"] circle').get_attribute("fill") == "#dc3c50"  # red
    save_shot(page, tmp_path, "backend-fake-manila-readout")
    page.context.close()


def test_job_page_shows_its_calibration_and_compare_overlays_runs(server, chromium, tmp_path):
    from tests.browser.test_dashboard import api_post
    from tests.circuits import GHZ3

    base = server.base_url
    page = login(chromium, base, "alice")
    resp = api_post(
        page, base, "/jobs?wait=60", {"profile": "fake_manila", "circuits": [{"qasm": GHZ3}], "shots": 2000}
    )
    job = resp.json()
    assert resp.status == 201 and job["status"] == "done", resp.text()
    page.goto(f"{base}/jobs/{job['id']}/")
    panel = page.locator("#provenance")
    assert panel.locator("#job-calibration").is_visible()
    export = page.request.get(f"{base}/api/v1/jobs/{job['id']}/provenance").json()
    used = sorted(export["circuits"][0]["physical_qubits"])
    ringed = panel.locator("svg.device-map g.qubit[data-used]").evaluate_all("els => els.map(e => +e.dataset.qubit)")
    assert sorted(ringed) == used and len(used) == 3
    for width in (390, 1300):
        page.set_viewport_size({"width": width, "height": 900})
        page.wait_for_timeout(150)
        save_shot(page, tmp_path, f"job-provenance-{width}")
        assert page.evaluate("document.documentElement.scrollWidth") <= width

    page.click("#compare-form button")
    page.wait_for_url("**/compare/?jobs=**")
    for _ in range(60):  # the ideal run finishes within seconds; the page says so until then
        if not page.locator("#compare-pending").count():
            break
        page.wait_for_timeout(500)
        page.reload()
    charts = page.locator("svg.compare-hist")
    assert charts.count() == 1
    runs = set(charts.locator("rect.run-bar").evaluate_all("els => els.map(e => e.dataset.run)"))
    assert runs == {"exact", "twin", "ideal", "fake_manila"}
    row = page.locator('tr[data-a="ideal"][data-b="fake_manila"]')
    assert "±" in row.inner_text()
    save_shot(page, tmp_path, "compare-ghz")
    page.context.close()
