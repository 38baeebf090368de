"""The dashboard in real headless Chromium against a real server (embedded worker, SQLite)."""

from __future__ import annotations

import csv
import io
import json

import pytest

from tests.browser.conftest import login, save_shot
from tests.circuits import GHZ3

pytestmark = pytest.mark.browser


def slow_qasm(n: int = 8, layers: int = 8) -> str:
    """Mid-circuit measurements make Aer simulate each shot separately: ~0.3 s per circuit."""
    lines = ["OPENQASM 2.0;", 'include "qelib1.inc";', f"qreg q[{n}];", f"creg c[{n}];"]
    for layer in range(layers):
        lines += [f"rx({0.1 * (layer + 1) + 0.01 * i:.3f}) q[{i}];" for i in range(n)]
        lines += [f"cx q[{i}],q[{i + 1}];" for i in range(n - 1)]
        lines.append(f"measure q[{layer % n}] -> c[{layer % n}];")
    lines.append("measure q -> c;")
    return "\n".join(lines)


LOSSY_SOCKETS = """
(() => {
  const Native = window.WebSocket;
  window.__dropped = [];
  function Lossy(url, protocols) {
    const ws = new Native(url, protocols);
    let n = 0;
    Object.defineProperty(ws, "onmessage", {
      set(handler) {
        ws.addEventListener("message", (event) => {
          const frame = JSON.parse(event.data);
          if (frame.type !== "hello" && ++n % 2 === 0) { window.__dropped.push(frame.seq); return; }
          handler(event);
        });
      },
    });
    return ws;
  }
  Lossy.prototype = Native.prototype;
  window.WebSocket = Lossy;
})();
"""


def api_post(page, base_url: str, path: str, body: dict | None = None):
    token = next(c["value"] for c in page.context.cookies() if c["name"] == "csrftoken")
    return page.request.post(
        f"{base_url}/api/v1{path}",
        data=json.dumps(body or {}),
        headers={"X-CSRFToken": token, "Content-Type": "application/json", "Referer": base_url + "/"},
    )


def test_submit_ghz_goes_live_to_done(server, chromium, tmp_path):
    base = server.base_url
    page = login(chromium, base, "alice")
    page.goto(f"{base}/jobs/new/")
    # A validation error keeps what was typed and points at the line.
    page.fill("textarea[name=qasm]", GHZ3.replace("cx q[1],q[2];", "cx q[1],q[7];"))
    page.fill("input[name=name]", "ghz-3 browser")
    page.click("#submit")
    assert page.locator("#circuit-error-0").is_visible()
    assert "q[7]" in page.input_value("textarea[name=qasm]")
    assert page.input_value("input[name=name]") == "ghz-3 browser"
    save_shot(page, tmp_path, "submit-error", full_page=False)

    page.fill("textarea[name=qasm]", GHZ3)
    page.select_option("select[name=team]", label="lab")
    page.fill("input[name=shots]", "2000")
    page.fill("input[name=tags]", "browser, ghz")
    page.click("#submit")
    page.wait_for_url(f"{base}/jobs/*/")
    job_id = page.url.rstrip("/").rsplit("/", 1)[-1]
    page.evaluate("window.__sameDocument = true")

    page.locator("#status", has_text="done").wait_for(timeout=60_000)
    assert page.evaluate("window.__sameDocument === true"), "the page reloaded"
    page.locator(".live.live").wait_for()
    page.locator("#result .bar-row").first.wait_for()
    bars = {
        row.get_attribute("data-key"): int(row.get_attribute("data-count"))
        for row in page.locator("#result .bar-row").all()
    }
    assert sum(bars.values()) == 2000
    for key in ("000", "111"):
        assert 0.44 < bars.get(key, 0) / 2000 < 0.56, bars
    assert all(count < 40 for key, count in bars.items() if key not in ("000", "111")), bars
    kinds = page.locator("#events li .kind").all_inner_texts()
    assert kinds[0] == "queued" and kinds[-1] == "done", kinds
    seqs = [int(s) for s in page.locator("#events li").evaluate_all("els => els.map(e => e.dataset.seq)")]
    assert seqs == list(range(1, len(seqs) + 1)), seqs
    assert "q_0" in page.inner_text(".diagram pre")
    assert page.inner_text("#progress-text").startswith("1 of 1")
    save_shot(page, tmp_path, "detail-done")

    csv_text = page.request.get(f"{base}/jobs/{job_id}/results.csv").text()
    rows = list(csv.DictReader(io.StringIO(csv_text)))
    assert {r["bitstring"]: int(r["count"]) for r in rows} == bars

    page.goto(f"{base}/")
    row = page.locator(f'tr[data-job="{job_id}"]')
    assert row.locator(".badge").inner_text() == "done"
    assert "ghz" in row.inner_text() and "alice" in row.inner_text() and "local" in row.inner_text()
    save_shot(page, tmp_path, "list")

    # Run again: a new job linked to this one.
    page.goto(f"{base}/jobs/{job_id}/")
    page.click("#rerun")
    page.wait_for_url(lambda url: job_id not in url and "/jobs/" in url)
    page.locator("#rerun-of").wait_for()
    page.locator("#status", has_text="done").wait_for(timeout=60_000)
    page.context.close()


def test_cancel_a_slow_job_from_the_live_list(server, chromium, tmp_path):
    base = server.base_url
    page = login(chromium, base, "bob")
    page.locator("#live.live").wait_for()
    resp = api_post(
        page,
        base,
        "/jobs",
        {
            "profile": "stepwise",
            "name": "slow sweep",
            "tags": ["slow"],
            "shots": 600,
            "circuits": [{"qasm": slow_qasm()} for _ in range(60)],
        },
    )
    assert resp.status == 201, resp.text()
    job_id = resp.json()["id"]

    row = page.locator(f'tr[data-job="{job_id}"]')
    row.wait_for(timeout=10_000)  # appeared without a reload
    row.locator(".badge", has_text="running").wait_for(timeout=30_000)
    page.wait_for_function(
        f"""() => {{ const r = document.querySelector('tr[data-job="{job_id}"] td.num');
                   return r && parseInt(r.textContent) >= 1; }}""",
        timeout=30_000,
    )
    save_shot(page, tmp_path, "list-running")
    asked = []

    def answer(dialog):  # cancelling asks first: dismissed, nothing happens; accepted, it cancels
        asked.append(dialog.message)
        dialog.dismiss() if len(asked) == 1 else dialog.accept()

    page.on("dialog", answer)
    row.locator("button[data-cancel]").click()
    page.wait_for_timeout(500)
    assert len(asked) == 1 and page.request.get(f"{base}/api/v1/jobs/{job_id}").json()["status"] == "running"
    row.locator("button[data-cancel]").click()
    row.locator(".badge", has_text="cancelled").wait_for(timeout=20_000)
    assert len(asked) == 2 and "Cancel this job?" in asked[0]
    assert row.locator("button[data-cancel]").count() == 0

    body = page.request.get(f"{base}/api/v1/jobs/{job_id}").json()
    assert body["status"] == "cancelled"
    assert 1 <= body["circuits_done"] < 60, body["circuits_done"]
    page.goto(f"{base}/jobs/{job_id}/")
    assert page.inner_text("#status") == "cancelled"
    kinds = page.locator("#events li .kind").all_inner_texts()
    assert "cancel_requested" in kinds and kinds[-1] == "cancelled", kinds
    save_shot(page, tmp_path, "detail-cancelled", full_page=False)
    page.context.close()


def test_outsider_gets_404_and_viewer_is_read_only(server, chromium, tmp_path):
    base = server.base_url
    alice = login(chromium, base, "alice")
    resp = api_post(
        alice, base, "/jobs", {"profile": "stepwise", "name": "lab secret", "circuits": [{"qasm": GHZ3}], "shots": 10}
    )
    assert resp.status == 201, resp.text()
    job_id = resp.json()["id"]

    # An owner creates a team profile through the form; a bad option is reported inline first.
    alice.goto(f"{base}/profiles/new/")
    alice.select_option("select[name=team]", label="lab")
    alice.fill("input[name=name]", "aer-seeded")
    alice.select_option("select[name=kind]", value="local")
    alice.fill("textarea[name=options]", '{"seed": 3, "optimization_level": 7}')
    alice.click("button[type=submit]")
    assert "options.optimization_level: must be between 0 and 3" in alice.inner_text("#id_options-error")
    assert alice.input_value("input[name=name]") == "aer-seeded"
    save_shot(alice, tmp_path, "profile-form-error", full_page=False)
    alice.fill("textarea[name=options]", '{"seed": 3}')
    alice.click("button[type=submit]")
    alice.wait_for_url(f"{base}/profiles/")
    assert "seed=3" in alice.inner_text('tr[data-profile="aer-seeded"]')
    alice.context.close()

    charlie = login(chromium, base, "charlie")
    assert charlie.goto(f"{base}/jobs/{job_id}/").status == 404
    assert charlie.request.get(f"{base}/jobs/{job_id}/results.jsonl").status == 404
    charlie.goto(f"{base}/")
    assert "lab secret" not in charlie.inner_text("#jobs")
    charlie.context.close()

    viola = login(chromium, base, "viola")
    assert viola.goto(f"{base}/jobs/{job_id}/").status == 200
    assert viola.locator("#rerun").count() == 0 and viola.locator("#cancel").count() == 0
    resp = api_post(viola, base, f"/jobs/{job_id}/rerun")
    assert resp.status == 403
    viola.goto(f"{base}/profiles/")
    assert viola.locator('section[data-team] a:has-text("Edit")').count() == 0
    assert viola.locator('tr[data-profile="stepwise"]').count() == 1
    save_shot(viola, tmp_path, "profiles-viewer", full_page=False)
    viola.context.close()


def test_the_page_refetches_frames_the_socket_lost(server, chromium, tmp_path):
    """Every second event frame is dropped between server and page: the page sees the seq gaps,
    refetches over REST and still shows the complete, ordered timeline and every result."""
    base = server.base_url
    page = login(chromium, base, "alice")
    # Every second event frame is lost before the page's handler sees it (hello frames pass).
    page.add_init_script(LOSSY_SOCKETS)
    resp = api_post(
        page,
        base,
        "/jobs",
        {
            "profile": "stepwise",
            "name": "lossy",
            "shots": 600,
            "circuits": [{"qasm": slow_qasm()} for _ in range(12)],
        },
    )
    job_id = resp.json()["id"]
    page.goto(f"{base}/jobs/{job_id}/?circuit=11")
    page.locator("#status", has_text="done").wait_for(timeout=60_000)
    page.locator("#result .bar-row").first.wait_for()
    assert "q_7" in page.locator("#circuit-11 pre").text_content()
    assert page.locator("#circuit-rows tr.selected").get_attribute("data-index") == "11"
    last_seq = page.request.get(f"{base}/api/v1/jobs/{job_id}").json()["last_seq"]
    page.wait_for_function(f"() => document.querySelectorAll('#events li').length === {last_seq}")
    seqs = [int(s) for s in page.locator("#events li").evaluate_all("els => els.map(e => e.dataset.seq)")]
    dropped = page.evaluate("window.__dropped")
    assert dropped, "no frame was dropped: the job finished before the page connected"
    assert seqs == list(range(1, last_seq + 1))
    assert page.inner_text("#progress-text").startswith("12 of 12")
    page.context.close()


def test_estimator_from_the_submit_page(server, chromium, tmp_path):
    base = server.base_url
    page = login(chromium, base, "bob")
    page.goto(f"{base}/jobs/new/")
    assert page.locator("#observables-field").is_hidden()
    page.select_option("#primitive", value="estimator")
    page.fill("textarea[name=qasm]", 'OPENQASM 2.0;\ninclude "qelib1.inc";\nqreg q[2];\nh q[0];\ncx q[0],q[1];\n')
    page.fill("textarea[name=observables]", "ZZ\nXX\nZI")
    page.fill("input[name=shots]", "4000")
    page.fill("input[name=name]", "bell estimator")
    page.click("#submit")
    page.wait_for_url(f"{base}/jobs/*/")
    page.locator("#status", has_text="done").wait_for(timeout=60_000)
    page.locator("#result .ev-row").first.wait_for()
    rows = page.locator("#result .ev-row").all()
    values = [(float(r.get_attribute("data-ev")), float(r.get_attribute("data-std"))) for r in rows]
    assert len(values) == 3
    for (ev, std), exact in zip(values, (1.0, 1.0, 0.0), strict=True):
        assert 0 < std < 0.1 and abs(ev - exact) < 5 * std
    save_shot(page, tmp_path, "detail-estimator", full_page=False)
    page.context.close()
