"""The operator's page in real Chromium, driven as an operator would: fleet hashrate and J/TH, the
rack heat map and the rig list; an overheat injected into the store becomes an alert that the
operator acknowledges from the page; a smoke alarm raises the full-width fire banner that a silence
does not hide; a curtailment order draws its target on the power chart; the page fits 1400 px and
390 px without sideways scrolling."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from minewatch.analyzer.engine import Analyzer
from minewatch.analyzer.profile_loader import validate_profile
from minewatch.analyzer.state import AlertStore
from minewatch.api.server import ApiServer
from minewatch.events import EventBus
from minewatch.readable import rfc3339
from minewatch.sample import NS_PER_S, DeviceMeta, Sample, now_ns
from tests.support.api import (
    OVERHEAT_PROFILE,
    TOKENS,
    KnownFacility,
    fill_known_facility,
    rig_profile,
    serve_known,
)
from tests.support.page_fixtures import screenshot_at_widths

pytestmark = pytest.mark.browser

OPERATOR = {"Authorization": f"Bearer {TOKENS['operator']}"}
#: The overheat rule of the contract tests, and a smoke alarm on the fire panel.
PROFILE = {
    **OVERHEAT_PROFILE,
    "rules": [
        {**OVERHEAT_PROFILE["rules"][0], "for": "0s"},
        {
            "id": "FS-01",
            "title": "Fire or smoke alarm",
            "kind": "threshold",
            "family": "fire",
            "severity": "critical",
            "selector": {"role": "fire_panel"},
            "params": {"metric": "smoke_alarm_bool", "above": 0.5, "max_age": "60s"},
            "source": "test: fire panel input",
        },
    ],
}


@dataclass
class Site:
    fac: KnownFacility
    server: ApiServer
    alerts: AlertStore


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    """The known facility at the wall clock, its analyzer stepping every half second."""
    fac = fill_known_facility(tmp_path / "data", now_ns=now_ns())
    fac.store.upsert_devices([DeviceMeta("fire-panel", "fire_panel", "", "", "", "fire_panel")])
    bus = EventBus()
    alerts = AlertStore(fac.cfg.state_db, bus=bus)
    analyzer = Analyzer(
        fac.cfg,
        fac.store,
        alerts,
        bus,
        {"test-rig": rig_profile()},
        compliance=validate_profile(PROFILE, "page test profile"),
    )
    stop = threading.Event()

    def step() -> None:
        while not stop.wait(0.5):
            analyzer.evaluate_once()

    stepping = threading.Thread(target=step, daemon=True)
    stepping.start()
    server = serve_known(fac, alerts, bus=bus)
    yield Site(fac, server, alerts)
    stop.set()
    stepping.join(5)
    server.stop()
    alerts.close()
    fac.store.close()


def operator_page(browser: Browser, site: Site) -> Page:
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    violations: list[str] = []
    page.on(
        "console",
        lambda m: violations.append(m.text) if "Content Security Policy" in m.text else None,
    )
    page.goto(f"{site.server.url}/login#token={TOKENS['operator']}")
    page.wait_for_url(f"{site.server.url}/")
    page.csp_violations = violations  # type: ignore[attr-defined]
    return page


def test_operator_sees_hashrate_heat_map_and_rig_list(chromium: Browser, site: Site) -> None:
    page = operator_page(chromium, site)
    expect(page.locator("#role")).to_have_text("operator")
    # 4 fresh rigs of 200 TH/s
    expect(page.locator("#fleet-hashrate")).to_have_text("0.80", timeout=15_000)
    expect(page.locator("#fleet-jth")).to_have_text("17.5")  # 3,500 W / 200 TH/s
    expect(page.locator("#heatmap .cell")).to_have_count(5)
    expect(page.locator("#heatmap .cell[data-device=rig-05]")).to_have_class("cell t-off")
    expect(page.locator("#dev-list tr")).to_have_count(5)
    page.fill("#dev-search", "rig-03")
    expect(page.locator("#dev-list tr")).to_have_count(1)
    page.fill("#dev-search", "")
    page.select_option("#dev-zone", "hall-a")
    expect(page.locator("#dev-list tr")).to_have_count(2)
    page.select_option("#dev-zone", "")
    expect(page.locator("#dev-list tr")).to_have_count(5)
    page.click("button.sort[data-key=chip_temp_c]")
    page.click("button.sort[data-key=chip_temp_c]")  # descending: the hottest first
    expect(page.locator("#dev-list tr").first).to_have_attribute("data-device", "rig-04")
    page.click("#heatmap .cell[data-device=rig-02]")  # the rig's page, with ranges
    expect(page.locator("#detail-title")).to_have_text("rig-02 · chip_temp_c")
    page.click("#detail-ranges button[data-range='24h']")
    expect(page.locator("#detail-note")).to_contain_text("last 24h")
    expect(page.locator("#detail-state")).to_contain_text("online")
    overflow = screenshot_at_widths(page, "operator")
    assert overflow == {1400: 0, 390: 0}
    page.select_option("#lang", "ru")
    expect(page.locator("#h-fleet")).to_have_text("Парк установок")
    expect(page.locator("#dev-zone option").first).to_have_text("все залы")
    assert screenshot_at_widths(page, "operator-ru") == {1400: 0, 390: 0}
    assert page.csp_violations == []  # type: ignore[attr-defined]  # strict CSP, nothing blocked
    page.close()


def test_overheat_is_acknowledged_from_the_page(chromium: Browser, site: Site) -> None:
    page = operator_page(chromium, site)
    now = now_ns()
    site.fac.store.write(
        [Sample(now - k * 5 * NS_PER_S, "rig-03", "chip_temp_c", 95.0) for k in range(4)]
    )
    row = page.locator("#alert-rows tr[data-rule='TH-05'][data-subject='rig-03']")
    expect(row).to_be_visible(timeout=20_000)
    row.locator("button.act").click()
    expect(page.locator("#actions")).to_be_visible()
    expect(page.locator("#actions")).to_contain_text("Regulator messages are not affected")
    page.fill("#ack-comment", "fan replaced, watching")
    page.click("#ack-form button[type=submit]")
    expect(page.locator("#act-msg")).to_contain_text("Acknowledged", timeout=10_000)
    [alert] = [a for a in site.alerts.list_alerts() if a["rule_id"] == "TH-05"]
    assert alert["ack_comment"] == "fan replaced, watching"
    assert str(alert["ack_by"]).startswith("operator#")
    page.close()


def test_smoke_alarm_raises_the_fire_banner_that_a_silence_does_not_hide(
    chromium: Browser, site: Site
) -> None:
    page = operator_page(chromium, site)
    expect(page.locator("#fire-banner")).to_be_hidden()
    httpx.post(
        f"{site.server.url}/api/v1/silences",
        headers=OPERATOR,
        json={
            "matchers": {"rule_id": "FS-01"},
            "ends_at": "2099-01-01T00:00:00Z",
            "reason": "panel maintenance",
        },
    ).raise_for_status()
    site.fac.store.write([Sample(now_ns(), "fire-panel", "smoke_alarm_bool", 1.0)])
    expect(page.locator("#fire-banner")).to_be_visible(timeout=20_000)
    expect(page.locator("#fire-text")).to_contain_text("Fire or smoke alarm")
    box = page.locator("#fire-banner").bounding_box()
    assert box is not None and box["width"] >= 1390  # full width
    page.close()


def test_curtailment_target_is_drawn_on_the_power_chart(chromium: Browser, site: Site) -> None:
    page = operator_page(chromium, site)
    start = now_ns() - 60 * NS_PER_S
    resp = httpx.post(
        f"{site.server.url}/api/v1/curtailment/orders",
        headers=OPERATOR,
        json={
            "target_kw": 15,
            "starts_at": rfc3339(start),
            "ends_at": "2099-01-01T00:00:00Z",
            "response_s": 600,
            "reason": "grid order 17",
        },
    )
    assert resp.status_code == 201, resp.text
    page.reload()
    expect(page.locator("#trend line.target")).to_have_count(1, timeout=20_000)
    expect(page.locator("#order-note")).to_contain_text("15 kW")
    expect(page.locator("#demand")).to_contain_text("15-min demand")
    page.close()


def test_demand_above_the_licence_reads_as_pending_before_the_quarter_ends(
    chromium: Browser, site: Site
) -> None:
    # the meter has read 200 kW (licence 100 kW) for the last 15 minutes: the quarter's projection
    # says so while the quarter is still running, before any demand rule can fire
    now = now_ns()
    site.fac.store.write(
        [Sample(now - k * 10 * NS_PER_S, "meter-main", "power_w", 200_000.0) for k in range(90)]
    )
    page = operator_page(chromium, site)
    expect(page.locator("#demand")).to_contain_text("pending: above the licensed", timeout=15_000)
    expect(page.locator("#demand")).to_have_class("small crit-text")
    page.close()
