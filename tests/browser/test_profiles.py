"""Profiles in headless Chromium: the form shows what the chosen kind uses, and deleting asks first."""

from __future__ import annotations

import pytest

from tests.browser.conftest import PASSWORD, login, save_shot

pytestmark = pytest.mark.browser

FIELDS = ("method", "fake_backend", "credential", "ibm_backend", "mode", "device", "selector", "options")


def visible_fields(page, scripted: bool = True) -> set[str]:
    shown = {name for name in FIELDS if page.locator(f"#profile-form [name={name}]").is_visible()}
    if scripted:  # the script's "off" marks agree with what the stylesheet shows
        kind = page.input_value("select[name=kind]")
        marked = page.locator(".kind-section:not(.off)").evaluate_all("els => els.map(e => e.dataset.kinds)")
        assert marked and all(kind in kinds.split() for kinds in marked), (kind, marked)
    return shown


def test_switching_kind_shows_only_that_kinds_fields(server, chromium, tmp_path):
    base = server.base_url
    page = login(chromium, base, "alice")
    page.goto(f"{base}/profiles/new/")
    assert visible_fields(page) == {"method", "options"}
    page.select_option("select[name=kind]", value="fake")
    assert visible_fields(page) == {"fake_backend", "mode", "options"}
    page.select_option("select[name=kind]", value="ibm_cloud")
    assert visible_fields(page) == {"credential", "ibm_backend", "mode", "options"}
    page.select_option("select[name=kind]", value="pennylane")
    assert visible_fields(page) == {"device", "options"}
    page.select_option("select[name=kind]", value="cluster")
    assert visible_fields(page) == {"selector"}
    # Cluster members are the chosen team's profiles and the built-ins.
    page.select_option("select[name=team]", label="lab")
    members = page.locator("#members-field input[name=members]:visible")
    names = set(members.evaluate_all("els => els.map(e => e.value)"))
    assert {"stepwise", "local", "fake_manila"} <= names
    for width in (390, 1300):
        page.set_viewport_size({"width": width, "height": 900})
        save_shot(page, tmp_path, f"profile-new-cluster-{width}")
        assert page.evaluate("document.documentElement.scrollWidth") <= width

    page.fill("input[name=name]", "duo")
    page.check('#members-field input[value="stepwise"]')
    page.check('#members-field input[value="fake_manila"]')
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/profiles/")
    assert "members: stepwise, fake_manila" in page.inner_text('tr[data-profile="duo"]')
    page.context.close()


def test_without_javascript_the_kinds_fields_still_switch_and_save(server, chromium, tmp_path):
    base = server.base_url
    context = chromium.new_context(java_script_enabled=False, viewport={"width": 1300, "height": 900})
    page = context.new_page()
    page.goto(f"{base}/login/")
    page.fill("input[name=username]", "bob")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.goto(f"{base}/profiles/new/")
    assert visible_fields(page, scripted=False) == {"method", "options"}  # the stylesheet shows them
    page.select_option("select[name=team]", label="lab")
    page.fill("input[name=name]", "noisy-lima")
    page.select_option("select[name=kind]", value="fake")
    assert visible_fields(page, scripted=False) == {"fake_backend", "mode", "options"}
    page.select_option("select[name=fake_backend]", value="fake_lima")
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/profiles/")
    assert "fake_lima" in page.inner_text('tr[data-profile="noisy-lima"]')
    context.close()
