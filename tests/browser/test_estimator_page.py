"""An estimator job's page in Chromium: every row's axis lines up with the header's ticks, however
long its observable, at phone and desk widths; observables and parameter values are readable."""

from __future__ import annotations

import pytest

from tests.browser.conftest import login, save_shot
from tests.browser.test_dashboard import api_post
from tests.test_estimator_page import OBSERVABLES, PARAMETRIC

pytestmark = pytest.mark.browser

GEOMETRY = """() => {
  const fig = document.querySelector("#result figure.evs");
  const centre = (el) => { const r = el.getBoundingClientRect(); return r.left + r.width / 2; };
  const scale = fig.querySelector(".ev-scale").getBoundingClientRect();
  return {
    ticks: [".tick-min", ".tick-zero", ".tick-max"].map((s) => centre(fig.querySelector(s))),
    scale: [scale.left, scale.right],
    rows: [...fig.querySelectorAll(".ev-row")].map((row) => {
      const t = row.querySelector(".ev-track").getBoundingClientRect();
      return { track: [t.left, t.right], zero: centre(row.querySelector(".zero")) };
    }),
  };
}"""


@pytest.mark.parametrize("width", [390, 1300])
def test_rows_line_up_with_the_axis(server, chromium, tmp_path, width):
    base = server.base_url
    page = login(chromium, base, "alice", viewport={"width": width, "height": 900})
    body = {
        "profile": "local",
        "name": "weighted",
        "primitive": "estimator",
        "circuits": [{"qasm": PARAMETRIC}],
        "observables": [OBSERVABLES],
        "parameter_values": [[0.25, 1.5]],
        "shots": 400,
    }
    resp = api_post(page, base, "/jobs?wait=30", body)
    assert resp.status == 201 and resp.json()["status"] == "done", resp.text()
    page.goto(f"{base}/jobs/{resp.json()['id']}/")
    keys = page.locator("#result .ev-row .key").all_inner_texts()
    assert keys == ["ZZ", "-1.0 * YY", "0.5 * ZZ + 0.5 * XX", "2.0 * ZI - 0.5 * IZ"]
    assert page.locator("#circuit-0 .parameters").inner_text().split() == ["phi", "0.25", "theta", "1.5"]
    shape = page.evaluate(GEOMETRY)
    low, zero, high = shape["ticks"]
    assert abs(low - shape["scale"][0]) < 1 and abs(high - shape["scale"][1]) < 1
    for row in shape["rows"]:
        assert abs(row["track"][0] - low) < 1 and abs(row["track"][1] - high) < 1, (row, shape["ticks"])
        assert abs(row["zero"] - zero) < 1, (row, zero)
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    save_shot(page, tmp_path, f"detail-estimator-{width}")
    page.context.close()
