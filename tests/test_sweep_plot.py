"""The job page of a swept estimator PUB plots its expectation values against the swept
parameter, with error bars, as server-drawn SVG: points and bar lengths are checked against the
stored results through the plot's own scale."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import numpy as np
import pytest
from django.urls import reverse

from qportal.jobs import services
from qportal.jobs.models import JobCircuit
from tests.test_pub_sweeps import M1_JSON, THETAS, qpy_text, seed_circuit

SVG = "{http://www.w3.org/2000/svg}"


def _plot(page: str) -> ET.Element:
    match = re.search(r"<svg [^>]*class=\"sweep\".*?</svg>", page, re.S)
    assert match, "no sweep plot on the page"
    return ET.fromstring(match.group(0))


def _submit(users, entry, shots=2000):
    return services.submit_job(
        users["alice"],
        services.Submission(
            profile="local",
            primitive="estimator",
            shots=shots,
            circuits=[{"qpy": qpy_text(seed_circuit()), **entry}],
            team=users["lab"].id,
        ),
    )


def test_fifty_point_sweep_is_plotted_with_error_bars(client, users, run_jobs):
    job = _submit(users, {"parameter_values": THETAS, "observables": M1_JSON})
    run_jobs()
    client.force_login(users["bob"])
    page = client.get(reverse("job-detail", args=[job.id])).content.decode()
    svg = _plot(page)
    stored = JobCircuit.objects.get(job=job, index=0)
    y_min, y_max = float(svg.get("data-y-min")), float(svg.get("data-y-max"))
    x_min, x_max = float(svg.get("data-x-min")), float(svg.get("data-x-max"))
    left, right = float(svg.get("data-left")), float(svg.get("data-right"))
    top, bottom = float(svg.get("data-top")), float(svg.get("data-bottom"))
    assert (x_min, x_max) == pytest.approx((THETAS[0][0], THETAS[-1][0]), abs=1e-6)
    assert y_min < min(stored.evs) and y_max > max(stored.evs)
    y_scale = (bottom - top) / (y_max - y_min)

    points = svg.findall(f".//{SVG}circle")
    bars = svg.findall(f".//{SVG}line[@class='err']")
    assert len(points) == len(bars) == 50
    for point, bar, theta, ev, std in zip(points, bars, THETAS, stored.evs, stored.stds, strict=True):
        assert float(point.get("data-x")) == pytest.approx(theta[0], abs=1e-6)
        assert float(point.get("cx")) == pytest.approx(
            left + (theta[0] - x_min) / (x_max - x_min) * (right - left), abs=0.01
        )
        assert float(point.get("cy")) == pytest.approx(top + (y_max - ev) * y_scale, abs=0.01)
        # the bar spans ev - std .. ev + std: 2 std in the plot's scale, centred on the point
        length = float(bar.get("y2")) - float(bar.get("y1"))
        assert length == pytest.approx(2 * std * y_scale, abs=0.02)
        assert (float(bar.get("y1")) + float(bar.get("y2"))) / 2 == pytest.approx(float(point.get("cy")), abs=0.02)
        assert float(bar.get("x1")) == float(bar.get("x2")) == float(point.get("cx"))
    assert std == pytest.approx(1 / np.sqrt(2000))
    # the parameters block names the sweep instead of listing 50 values
    assert "0 … 6.158 (50 bindings)" in page
    # the live panel re-renders the same plot
    panel = client.get(reverse("job-panels", args=[job.id])).json()["result"]
    assert len(_plot(panel).findall(f".//{SVG}circle")) == 50


def test_two_observables_give_two_series(client, users, run_jobs):
    job = _submit(users, {"parameter_values": THETAS[:10], "observables": [["XXY"], ["XXX"]]})
    run_jobs()
    client.force_login(users["bob"])
    svg = _plot(client.get(reverse("job-detail", args=[job.id])).content.decode())
    series = svg.findall(f".//{SVG}g[@class='series']")
    assert [len(s.findall(f"{SVG}circle")) for s in series] == [10, 10]
    page = client.get(reverse("job-detail", args=[job.id])).content.decode()
    legend = re.findall(r'<span class="legend"[^>]*>● <code>([^<]*)</code>', page)
    assert legend == ["XXY", "XXX"]  # a series per observable row, named
    assert "All 20 values" in page  # the list of every value is folded away under the plot


def test_a_job_without_a_sweep_has_no_plot(client, users, run_jobs):
    job = _submit(users, {"parameter_values": [0.3], "observables": ["XXY", "XXX"]})
    run_jobs()
    client.force_login(users["bob"])
    page = client.get(reverse("job-detail", args=[job.id])).content.decode()
    assert 'class="sweep"' not in page
    assert page.count('class="ev-row"') == 2
