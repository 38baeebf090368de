"""The job page's circuit browser in Chromium: table pages, opening a circuit, and the histogram's
sort, log scale and ideal overlay, at phone and desk widths."""

from __future__ import annotations

import pytest

from tests.browser.conftest import login, save_shot
from tests.browser.test_dashboard import api_post

pytestmark = pytest.mark.browser

# Outcome probabilities (c1 c0): 00 0.64, 01 0.16, 10 0.16, 11 0.04 (ry(2 asin(0.4)) on each qubit).
UNEVEN = (
    'OPENQASM 2.0;\ninclude "qelib1.inc";\nqreg q[2];\ncreg c[2];\n'
    "ry(0.9272952180016122) q[0];\nry(0.9272952180016122) q[1];\nmeasure q -> c;\n"
)

BARS = """() => [...document.querySelectorAll("#result .bar-row")].map((row) => ({
  key: row.dataset.key,
  width: row.querySelector(".bar").getBoundingClientRect().width
    / row.querySelector(".track").getBoundingClientRect().width,
  ideal: row.querySelector(".ideal-mark") ? !row.querySelector(".ideal-mark").hidden : null,
}))"""


@pytest.fixture(scope="module")
def job_id(server, chromium):
    page = login(chromium, server.base_url, "alice")
    body = {"profile": "local", "name": "sweep", "shots": 20000, "circuits": [{"qasm": UNEVEN}] * 60}
    resp = api_post(page, server.base_url, "/jobs?wait=60", body)
    assert resp.status == 201, resp.text()
    job = resp.json()
    page.context.close()
    assert job["status"] == "done"
    return job["id"]


@pytest.mark.parametrize("width", [390, 1300])
def test_open_a_circuit_from_the_table_and_read_its_histogram(server, chromium, tmp_path, job_id, width):
    base = server.base_url
    page = login(chromium, base, "alice", viewport={"width": width, "height": 900})
    page.goto(f"{base}/jobs/{job_id}/")
    assert page.locator("#circuit-rows tr").count() == 50
    page.click("#circuits-next")
    assert page.locator("#circuit-rows tr").count() == 10
    page.click("#circuit-rows tr[data-index='57'] td a >> nth=0")
    page.wait_for_url("**circuit=57**")
    assert page.locator("#circuit-rows tr.selected").get_attribute("data-index") == "57"
    assert page.locator("#circuit-57 h2").inner_text().startswith("Circuit 57")

    bars = page.evaluate(BARS)
    assert [b["key"] for b in bars] == ["00", "01", "10", "11"] and all(b["ideal"] for b in bars)
    linear = {b["key"]: b["width"] for b in bars}
    page.select_option("#result .hist-sort", "count")
    by_count = [b["key"] for b in page.evaluate(BARS)]
    assert by_count[0] == "00" and by_count[-1] == "11" and set(by_count[1:3]) == {"01", "10"}
    save_shot(page, tmp_path, f"circuit-browser-linear-{width}")
    page.check("#result .hist-log")
    logged = {b["key"]: b["width"] for b in page.evaluate(BARS)}
    # The scale's peak is the larger of the top count and its ideal count (12,800): the top bar is near full length.
    assert linear["00"] > 0.95 and logged["00"] > 0.99
    assert linear["11"] == pytest.approx(800 / 12800, abs=0.03)  # 4 % against the peak's 64 %
    assert logged["11"] > 0.6  # log(1 + 800) / log(1 + 12800): a small count is longer on a log scale
    page.uncheck("#result .hist-ideal")
    assert not any(b["ideal"] for b in page.evaluate(BARS))
    save_shot(page, tmp_path, f"circuit-browser-{width}")

    page.fill("#jump-to", "3")
    page.click("#jump button")
    page.wait_for_url("**circuit=3**")
    assert page.locator("#circuit-rows tr.selected").get_attribute("data-index") == "3"
    assert "distance from ideal" in page.inner_text("#result figcaption")
    page.context.close()
