"""Estimator results on the job page: observables written as a person writes them, and each
circuit's bound parameter values with their names."""

from __future__ import annotations

import html as htmlmod
import re

from django.urls import reverse

from qportal.jobs import services
from qportal.jobs.templatetags.qportal_tags import observable

PARAMETRIC = """OPENQASM 3.0;
include "stdgates.inc";
input float[64] theta;
input float[64] phi;
qubit[2] q;
ry(theta) q[0];
cx q[0], q[1];
rz(phi) q[1];
"""
OBSERVABLES = ["ZZ", ["YY", -1.0], [["ZZ", 0.5], ["XX", 0.5]], {"ZI": 2.0, "IZ": -0.5}]


def test_observables_read_as_written():
    assert observable("ZZ") == "ZZ"
    assert observable(["YY", -1.0]) == "-1.0 * YY"
    assert observable([["ZZ", 0.5], ["XX", 0.5]]) == "0.5 * ZZ + 0.5 * XX"
    assert observable({"ZI": 2, "IZ": -0.5}) == "2 * ZI - 0.5 * IZ"
    assert observable({"weird": "x"}) == '{"weird": "x"}'  # not an observable: shown as it was stored


def test_job_page_shows_observables_and_parameter_values(client, users, run_jobs):
    job = services.submit_job(
        users["alice"],
        services.Submission(
            profile="local",
            circuits=[{"qasm": PARAMETRIC}, {"qasm": PARAMETRIC}],
            primitive="estimator",
            observables=[OBSERVABLES, OBSERVABLES],
            parameter_values=[[0.25, 1.5], [-0.125, 3.0]],
            shots=200,
            team=users["lab"].id,
        ),
    )
    run_jobs()
    client.force_login(users["bob"])
    page = client.get(reverse("job-detail", args=[job.id])).content.decode()
    first = page.split('id="circuit-0"')[1]  # the opened circuit: 0 unless the page asks for another
    second = client.get(reverse("job-detail", args=[job.id]), {"circuit": 1}).content.decode()
    assert 'id="circuit-1"' in second and 'id="circuit-0"' not in second
    labels = [
        htmlmod.unescape(x) for x in re.findall(r'<div class="ev-row"[^>]*>\s*<code class="key">([^<]*)</code>', first)
    ]
    assert labels[:3] == ["ZZ", "-1.0 * YY", "0.5 * ZZ + 0.5 * XX"]
    # PostgreSQL's jsonb keeps a dict's keys in its own order: either way it is the same sum.
    assert labels[3] in ("2.0 * ZI - 0.5 * IZ", "-0.5 * IZ + 2.0 * ZI")
    assert "[&quot;YY&quot;" not in page and '["YY"' not in page

    def params(html: str) -> list[tuple[str, str]]:
        (listed,) = re.findall(r'<dl class="parameters"[^>]*>(.*?)</dl>', html)
        return re.findall(r"<dt>(\w+)</dt><dd>([-\d.]+)</dd>", listed)

    # Qiskit orders a circuit's parameters by name; the values were given in that order.
    assert params(first) == [("phi", "0.25"), ("theta", "1.5")]
    assert params(second) == [("phi", "-0.125"), ("theta", "3.0")]
    panels = client.get(reverse("job-panels", args=[job.id])).json()
    assert "-1.0 * YY" in htmlmod.unescape(panels["result"])  # the live re-render writes them the same way
    assert panels["result_final"] is True
