"""The live page in real Chromium: it logs in from the demo's link, shows power against the licence,
updates by itself over SSE without reloading, says "no data" rather than zero, and shows a lost
connection."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from minewatch.api.server import ApiServer
from minewatch.sample import NS_PER_S, Sample, now_ns
from tests.support.api import TOKENS, KnownFacility, fill_known_facility, serve_known

pytestmark = pytest.mark.browser


@pytest.fixture
def live(tmp_path: Path) -> Iterator[tuple[KnownFacility, ApiServer]]:
    fac = fill_known_facility(tmp_path / "data", now_ns=now_ns())
    server = serve_known(fac)
    yield fac, server
    server.stop()
    fac.store.close()


def open_page(browser: Browser, url: str, token: str) -> Page:
    page = browser.new_page()
    page.goto(f"{url}/login#token={token}")
    page.wait_for_url(f"{url}/")
    return page


def test_login_link_opens_page_with_power_and_devices(
    chromium: Browser, live: tuple[KnownFacility, ApiServer]
) -> None:
    _, server = live
    page = open_page(chromium, server.url, TOKENS["operator"])
    expect(page.locator("#power-kw")).to_have_text("20.0", timeout=10_000)
    expect(page.locator("#capacity-kw")).to_have_text("100")
    expect(page.locator("#utilisation")).to_have_text("20.0 % of licence")
    expect(page.locator("#power-source")).to_have_text("revenue meter")
    expect(page.locator("#conn-state")).to_have_attribute("data-state", "live")
    expect(page.locator("#dev-online")).to_have_text("5")
    expect(page.locator("#dev-offline")).to_have_text("1")
    # hottest online rigs first; silent rig-05 is not listed as if it were current
    expect(page.locator("#hot-rows tr").first).to_have_attribute("data-device", "rig-04")
    expect(page.locator("#hot-rows tr")).to_have_count(4)
    expect(page.locator("#hot-rows tr").first).to_contain_text("limit 90")
    expect(page.locator("#trend-step")).to_have_text("30s", timeout=10_000)  # the trend came
    assert page.locator("#trend polyline").count() == 1
    # a tick that goes out before the server has read the trend ("trend": null) keeps the drawn one
    page.evaluate(
        """() => new Promise((resolve) => document.addEventListener("minewatch:snapshot",
             (ev) => { render({ ...ev.detail, trend: null }); resolve(); }, { once: true }))"""
    )
    expect(page.locator("#trend-step")).to_have_text("30s")
    expect(
        page.locator("#alerts-na")
    ).to_be_visible()  # no analyzer: says so, does not claim zero alerts
    page.close()


def test_page_updates_without_reload(
    chromium: Browser, live: tuple[KnownFacility, ApiServer]
) -> None:
    fac, server = live
    page = open_page(chromium, server.url, TOKENS["operator"])
    expect(page.locator("#power-kw")).to_have_text("20.0", timeout=10_000)
    page.evaluate("window.__noReload = true")
    fac.store.write([Sample(now_ns(), "meter-main", "power_w", 120_000.0)])  # over the licence
    expect(page.locator("#power-kw")).to_have_text("120.0", timeout=10_000)
    expect(page.locator("#utilisation")).to_have_text("120.0 % of licence")
    expect(page.locator("#power-bar")).to_have_class("fill crit")
    assert page.evaluate("window.__noReload") is True
    page.close()


def test_page_without_data_says_no_data(chromium: Browser, tmp_path: Path) -> None:
    fac = fill_known_facility(
        tmp_path / "data", now_ns=now_ns() - 3 * 3600 * NS_PER_S
    )  # all three hours old
    server = serve_known(fac)
    try:
        page = open_page(chromium, server.url, TOKENS["operator"])
        expect(page.locator("#conn-state")).to_have_attribute("data-state", "live", timeout=10_000)
        expect(page.locator("#power-kw")).to_have_text("no data")
        expect(page.locator("#utilisation")).to_have_text("no data")
        expect(page.locator("#hot-empty")).to_be_visible()
        expect(page.locator("#dev-online")).to_have_text("0")
        page.close()
    finally:
        server.stop()
        fac.store.close()


def test_page_shows_a_lost_connection(
    chromium: Browser, live: tuple[KnownFacility, ApiServer]
) -> None:
    _, server = live
    page = open_page(chromium, server.url, TOKENS["admin"])
    expect(page.locator("#conn-state")).to_have_attribute("data-state", "live", timeout=10_000)
    server.stop()
    expect(page.locator("#conn-state")).not_to_have_attribute("data-state", "live", timeout=15_000)
    page.close()


def test_page_without_login_goes_to_login(
    chromium: Browser, live: tuple[KnownFacility, ApiServer]
) -> None:
    _, server = live
    page = chromium.new_page()
    page.goto(f"{server.url}/")
    page.wait_for_url(f"{server.url}/login")
    page.fill("#token", "wrong-token-0123456789")
    page.click("button[type=submit]")
    expect(page.locator("#msg")).to_have_text("token not recognised")
    page.fill("#token", TOKENS["operator"])  # (an inspector lands on /inspect instead)
    page.click("button[type=submit]")
    page.wait_for_url(f"{server.url}/")
    expect(page.locator("#power-kw")).to_have_text("20.0", timeout=10_000)
    page.close()


def test_sse_stream_ends_when_server_stops(live: tuple[KnownFacility, ApiServer]) -> None:
    _, server = live
    with httpx.stream(
        "GET",
        f"{server.url}/api/v1/live",
        timeout=10,
        headers={"Authorization": f"Bearer {TOKENS['operator']}"},
    ) as resp:
        assert resp.headers["content-type"].startswith("text/event-stream")
        lines = resp.iter_lines()
        assert next(line for line in lines if line.startswith("event:")) == "event: snapshot"
        data = next(line for line in lines if line.startswith("data:"))
        assert '"kw":20.0' in data.replace(" ", "")
        server.stop()  # with this stream still open: must return, and end the stream
        assert not server.stats()["running"]


def test_alert_appears_live_without_reload(chromium: Browser, tmp_path: Path) -> None:
    """The real analyzer fires on a rig at 95 °C (limit 90) while the page is open; the page shows
    it.

    rig-05 (silent for ten minutes, so no older reading competes) reports 95 °C every 2 s; the
    analyzer's instants are aligned to its 10 s interval, so whatever the wall clock, the last 40 s
    hold a pending start and 20 s of breach."""
    from minewatch.analyzer.engine import Analyzer
    from minewatch.analyzer.state import AlertStore
    from tests.support.api import overheat_profile, rig_profile

    now = now_ns()
    fac = fill_known_facility(tmp_path / "data", now_ns=now)
    alerts = AlertStore(fac.cfg.state_db)
    server = serve_known(fac, alert_store=alerts)
    try:
        page = open_page(chromium, server.url, TOKENS["operator"])
        expect(page.locator("#alerts-empty")).to_be_visible(timeout=10_000)
        expect(page.locator("#alert-count")).to_have_text("0")
        page.evaluate("window.__noReload = true")

        analyzer = Analyzer(
            fac.cfg,
            fac.store,
            alerts,
            None,
            {"test-rig": rig_profile()},
            compliance=overheat_profile(),
        )
        fac.store.write(
            [Sample(now - 2 * k * NS_PER_S, "rig-05", "chip_temp_c", 95.0) for k in range(25)]
        )
        for k in (40, 30, 20, 10, 0):
            analyzer.evaluate_once(now - k * NS_PER_S)
        row = page.locator('#alert-rows tr[data-rule="TH-05"][data-subject="rig-05"]')
        expect(row).to_contain_text("firing", timeout=10_000)
        expect(row).to_contain_text("critical")
        expect(row).to_contain_text("Chip over-temperature")
        expect(page.locator("#alert-sev")).to_contain_text("1 critical")
        expect(page.locator("#hot-rows tr").first).to_have_attribute("data-device", "rig-05")
        assert page.evaluate("window.__noReload") is True
        page.close()
    finally:
        server.stop()
        alerts.close()
        fac.store.close()


def test_clicking_a_rig_shows_its_last_hour(
    chromium: Browser, live: tuple[KnownFacility, ApiServer]
) -> None:
    _, server = live
    page = open_page(chromium, server.url, TOKENS["operator"])
    expect(page.locator("#detail")).to_be_hidden()
    page.locator('#hot-rows tr[data-device="rig-01"]').click(timeout=10_000)
    expect(page.locator("#detail-title")).to_have_text("rig-01 · chip_temp_c")
    # an hour of 10 s samples in 1 min buckets: 60 or 61 depending on where the minute boundaries
    # fall
    expect(page.locator("#detail-note")).to_contain_text(
        re.compile(r"1 min maxima, 6[01] points"), timeout=10_000
    )
    # drawn by the vendored uPlot: one canvas, the limit in its legend
    expect(page.locator("#detail-chart canvas")).to_have_count(1)
    expect(page.locator("#detail-chart")).to_contain_text("limit 90 °C")
    page.click("#detail-close")
    expect(page.locator("#detail")).to_be_hidden()
    page.close()


def test_regulator_channel_card_and_alert_values(
    chromium: Browser, live: tuple[KnownFacility, ApiServer]
) -> None:
    """The card reads the notifier's outbox and the ledger in the shared state database: a dead
    message turns it red, and the last delivery and the ledger head are shown."""
    from minewatch.ledger import Ledger
    from minewatch.notifier.outbox import Outbox
    from minewatch.notifier.regulator import DESTINATION

    fac, server = live
    db = fac.cfg.state_db
    Ledger(db).append(
        "config.loaded",
        {"file": "facility.yaml"},
        at_ns=now_ns(),
        actor="test",
        subject="test-site",
    )
    outbox, now = Outbox(db), now_ns()
    for n, (kind, outcome) in enumerate([("breach_opened", "delivered"), ("heartbeat", "dead")]):
        oid = outbox.enqueue(
            DESTINATION,
            kind,
            b"{}",
            message_id=f"m{n}",
            idempotency_key=f"k{n}",
            now_ns=now,
            deadline_ns=now + 60 * NS_PER_S,
        )
        assert oid is not None  # a fresh key is always queued
        message = outbox.get(oid)
        assert message is not None
        outbox.record(
            message,
            outcome=outcome,
            started_ns=now,
            duration_ms=3.0,
            status_code=200 if outcome == "delivered" else 401,
            detail="test",
        )
    page = open_page(chromium, server.url, TOKENS["operator"])
    expect(page.locator("#reg-delivered")).to_have_text("1", timeout=10_000)
    expect(page.locator("#reg-dead")).to_have_text("1")
    expect(page.locator("#reg-queued")).to_have_text("0")
    expect(page.locator("#reg-state")).to_have_text("messages dead")
    expect(page.locator("#reg-last")).to_contain_text("breach opened")
    expect(page.locator("#reg-head")).to_contain_text(
        f"#{Ledger(db).head().seq} {Ledger(db).head().hash[:12]}"
    )
    expect(page.locator("#reg-endpoint")).to_have_text(
        "no URL configured"
    )  # the channel is off in this config
    # alert values: facility-scale watts read in kW like the power card; a rig's watts and °C stay
    # as they are
    assert page.evaluate("valueText(985240.1, 950000, 'W')") == "985.2 / 950.0 kW"
    assert page.evaluate("valueText(3510, 3600, 'W')") == "3,510.0 / 3,600.0 W"
    assert page.evaluate("valueText(96.5, 95, 'c')") == "96.5 / 95.0 °C"
    page.close()
