"""The console's vMix panel in headless Chromium: an operator maps fields and saves, vMix gets
the values, the panel shows the output's health, including vMix failing, and every name typed
is shown as text."""

from __future__ import annotations

import time

import pytest

from tests import browser as shared
from tests.browser import Rig, shot, with_shots
from tests.test_operator_console import open_console, status_ok
from tests.test_vmix import INPUT, FakeVmix
from tests.upstream_app import LiveServer

pytestmark = pytest.mark.network

browser = shared.browser
rig = shared.rig

HEALTH = "document.getElementById('vmix-health').textContent"


def _until(pred: object, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not pred():  # type: ignore[operator]
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_map_save_push_and_health(rig: Rig) -> None:
    vmix = FakeVmix()
    with LiveServer(vmix) as vm:
        con = open_console(rig)
        page = con.page
        con.wait("document.getElementById('vmix-new-source').options.length > 10")
        assert "not set up" in con.js(HEALTH)
        page.fill("#vmix-url", vm.url)
        page.fill("#vmix-input", INPUT)
        for source, target in (
            ("home_score", "HomeScore.Text"),
            ("period_label", "Period.Text"),
            ("home_name", "<b>Name</b>.Text"),
        ):
            page.select_option("#vmix-new-source", source)
            page.fill("#vmix-new-target", target)
            page.click("#vmix-add")
        # what was typed is shown as text, never as markup
        cells = con.js(
            "[...document.querySelectorAll('#vmix-fields tbody td')].map(t => t.textContent)"
        )
        assert "<b>Name</b>.Text" in cells
        assert con.js("document.querySelector('#vmix-fields b')") is None
        page.click("#vmix-save")
        status_ok(con, "save vMix output")

        _until(
            lambda: vmix.last("HomeScore.Text") == "11" and vmix.last("Period.Text") == "2nd Half"
        )
        assert set(vmix.inputs) == {INPUT}
        con.wait(f"{HEALTH}.includes('sending')", timeout=10)

        # vMix starts answering errors: the panel says so, with vMix's own words
        vmix.fail = True
        rig.push(with_shots(shot(5_000, pid="7301"), home=14))
        con.wait(
            f"{HEALTH}.includes('failing') && {HEALTH}.includes('Input not found')", timeout=10
        )
        vmix.fail = False
        _until(lambda: vmix.last("HomeScore.Text") == "14", 15)
        con.wait(f"{HEALTH}.includes('sending')", timeout=10)

        # the map survives a reload of the page (it is the game's config, not the page's)
        page.reload()
        con.wait("document.querySelectorAll('#vmix-fields tbody tr').length === 3", timeout=10)
        assert page.input_value("#vmix-input") == INPUT
        con.assert_clean()
