"""The profile form by kind: the sections each kind uses, the pickers' choices, and what is saved."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from executors.fake_backend import list_fake_backends
from qportal.accounts.access import personal_team
from qportal.accounts.models import IBMCredential
from qportal.profiles.models import ExecutorProfile

SECTION = re.compile(r'<fieldset class="kind-section( off)?" data-kinds="[^"]*">(.*?)</fieldset>', re.S)

# The form fields each kind shows: what its executor reads (besides team, name, description,
# kind and shots, which every kind has).
SHOWN = {
    "local": {"method", "single_job", "options"},
    "fake": {"fake_backend", "mode", "max_time", "single_job", "local_transpile", "options"},
    "ibm_cloud": {"credential", "ibm_backend", "mode", "max_time", "single_job", "local_transpile", "options"},
    "pennylane": {"device", "device_options", "options"},
    "cluster": {"members", "selector"},
}


def sections(html: str) -> tuple[set[str], set[str]]:
    """(names of fields in visible sections, names in hidden ones)."""
    shown, hidden = set(), set()
    for is_hidden, body in SECTION.findall(html):
        (hidden if is_hidden else shown).update(re.findall(r'name="([^"]+)"', body))
    return shown, hidden


def options_of(html: str, select: str) -> list[tuple[str, str]]:
    body = re.search(rf'<select name="{select}"[^>]*>(.*?)</select>', html, re.S).group(1)
    return re.findall(r'<option value="([^"]*)"([^>]*)>', body)


def credential(team, name: str, backends=()) -> IBMCredential:
    cred = IBMCredential(team=team, name=name, backends=list(backends))
    cred.set_token(f"token-{name}")
    cred.save()
    return cred


@pytest.fixture
def bob(client, users):
    client.force_login(users["bob"])
    return client


def post(client, url=None, **fields):
    data = {"team": fields.pop("team"), "name": "p1", "kind": "local", "shots": "100", "selector": "cyclic", **fields}
    return client.post(url or reverse("profile-new"), data)


def test_a_new_profile_shows_the_local_fields_only(bob):
    shown, hidden = sections(bob.get(reverse("profile-new")).content.decode())
    assert shown == SHOWN["local"]
    assert {"credential", "members", "fake_backend", "mode", "device"} <= hidden


@pytest.mark.parametrize("kind", SHOWN)
def test_the_edit_page_shows_what_the_profiles_kind_uses(bob, users, kind):
    profile = ExecutorProfile.objects.create(team=users["lab"], name="p", kind=kind, backend="fake_manila")
    shown, hidden = sections(bob.get(reverse("profile-edit", args=[profile.id])).content.decode())
    assert shown == SHOWN[kind]
    assert hidden == set().union(*SHOWN.values()) - SHOWN[kind]


def test_a_refused_post_shows_the_kind_it_asked_for(bob, users):
    resp = post(bob, team=users["lab"].id, kind="cluster")
    assert resp.status_code == 400 and "at least one member" in resp.content.decode()
    assert sections(resp.content.decode())[0] == SHOWN["cluster"]


def test_pickers_offer_fake_backends_team_credentials_and_member_profiles(bob, users):
    lab = users["lab"]
    mine = credential(personal_team(users["bob"]), "bobs-key")
    seen = credential(lab, "lab-key", [{"name": "ibm_kyiv", "num_qubits": 127}, {"name": "ibm_fez", "num_qubits": 156}])
    credential(personal_team(users["charlie"]), "charlies-key")
    ExecutorProfile.objects.create(team=lab, name="lab-sim", kind="local")
    ExecutorProfile.objects.create(team=lab, name="lab-pair", kind="cluster", members=["local"])
    ExecutorProfile.objects.create(team=personal_team(users["charlie"]), name="charlie-sim", kind="local")
    html = bob.get(reverse("profile-new")).content.decode()

    assert [v for v, _ in options_of(html, "fake_backend")] == ["auto"] + [b["name"] for b in list_fake_backends()]
    assert "fake_manila" in [v for v, _ in options_of(html, "fake_backend")]
    creds = dict(options_of(html, "credential"))
    assert set(creds) == {"", str(mine.id), str(seen.id)}  # not charlie's
    assert f'data-team="{lab.id}"' in creds[str(seen.id)]
    datalist = re.search(rf'<datalist id="ibm-backends-{seen.id}">(.*?)</datalist>', html, re.S).group(1)
    assert re.findall(r'value="([^"]+)"', datalist) == ["ibm_kyiv", "ibm_fez"]
    groups = dict(re.findall(r'<div class="member-group" data-team="([^"]+)">(.*?)</div>', html, re.S))
    assert re.findall(r'value="([^"]+)"', groups[str(lab.id)]) == ["lab-sim"]  # a cluster cannot be a member
    assert {"local", "fake_manila"} <= set(re.findall(r'value="([^"]+)"', groups["builtin"]))
    assert "charlie-sim" not in html


def test_cloud_backend_is_one_the_credential_has_seen_or_free_text_before_any_check(bob, users):
    lab = users["lab"]
    seen = credential(lab, "lab-key", [{"name": "ibm_kyiv", "num_qubits": 127}])
    fresh = credential(lab, "new-key")
    cloud = {"team": lab.id, "kind": "ibm_cloud", "mode": "batch", "single_job": "on"}
    resp = post(bob, **cloud, credential=seen.id, ibm_backend="ibm_nowhere")
    assert resp.status_code == 400 and "has not seen &#x27;ibm_nowhere&#x27;; it reaches ibm_kyiv" in resp.text
    assert not ExecutorProfile.objects.filter(name="p1").exists()
    assert post(bob, **cloud, credential=seen.id, ibm_backend="ibm_kyiv").status_code == 302
    assert post(bob, **cloud, name="p2", credential=fresh.id, ibm_backend="ibm_anything").status_code == 302
    saved = {p.name: (p.credential_id, p.backend, p.mode) for p in ExecutorProfile.objects.filter(team=lab)}
    assert saved == {"p1": (seen.id, "ibm_kyiv", "batch"), "p2": (fresh.id, "ibm_anything", "batch")}
    others = credential(personal_team(users["bob"]), "bobs-key")
    resp = post(bob, **cloud, name="p3", credential=others.id, ibm_backend="x")
    assert resp.status_code == 400 and "a credential of the profile&#x27;s team" in resp.text


def test_fields_of_other_kinds_are_ignored(bob, users):
    lab = users["lab"]
    cred = credential(lab, "lab-key")
    resp = post(
        bob,
        team=lab.id,
        kind="local",
        method="matrix_product_state",
        options='{"seed": 7}',
        credential=cred.id,
        ibm_backend="ibm_kyiv",
        fake_backend="no-such-backend",
        mode="session",
        max_time="notanumber",
        members=["local"],
        device_options="{broken",
    )
    assert resp.status_code == 302, resp.text[:3000]
    profile = ExecutorProfile.objects.get(name="p1")
    assert (profile.credential_id, profile.backend, profile.mode, profile.members, profile.max_time) == (
        None,
        "",
        "job",
        [],
        None,
    )
    assert profile.options == {"seed": 7, "method": "matrix_product_state"}
    html = bob.get(reverse("profile-edit", args=[profile.id])).content.decode()
    assert '<option value="matrix_product_state" selected>' in html
    options = re.search(r'<textarea name="options"[^>]*>(.*?)</textarea>', html, re.S).group(1)
    assert "seed" in options and "method" not in options


def test_pennylane_device_options_and_cluster_members(bob, users):
    lab = users["lab"]
    resp = post(bob, team=lab.id, kind="pennylane", device="default.qubit", device_options='{"seed": 3}')
    assert resp.status_code == 302, resp.text[:3000]
    assert ExecutorProfile.objects.get(name="p1").options == {"device_options": {"seed": 3}}
    resp = post(bob, team=lab.id, name="pair", kind="cluster", members=["p1", "fake_manila"], selector="random")
    assert resp.status_code == 302, resp.text[:3000]
    pair = ExecutorProfile.objects.get(name="pair")
    assert (pair.members, pair.selector, pair.options) == (["p1", "fake_manila"], "random", {})
    html = bob.get(reverse("profile-edit", args=[pair.id])).content.decode()
    assert 'value="p1" checked' in html and 'value="fake_manila" checked' in html
    assert 'value="local" checked' not in html
