"""The inspector's page in real Chromium: the inspector's login lands on it (not on the operator's
page), the report reads rule by rule in the chosen language, the PDF downloads with its signature
and its text (pdftotext) carries the rule titles in that language, the inspector cannot acknowledge,
and the page fits 1400 px and 390 px without sideways scrolling."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from minewatch.analyzer.state import AlertStore
from minewatch.api.server import ApiServer
from minewatch.ledger import Ledger
from minewatch.notifier.signing import KeyStore
from minewatch.sample import NS_PER_S, Sample
from tests.support.api import TOKENS, KnownFacility, fill_known_facility, serve_known
from tests.support.page_fixtures import screenshot_at_widths

pytestmark = pytest.mark.browser

MIDNIGHT = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
#: The facility's data ends half an hour before today began, so yesterday is a finished period.
DATA_END_NS = int((MIDNIGHT - timedelta(minutes=30)).timestamp()) * NS_PER_S


@dataclass
class Site:
    fac: KnownFacility
    server: ApiServer


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    """Yesterday's data with rig-03 at 95 °C (limit 90) for its last 20 minutes."""
    fac = fill_known_facility(tmp_path / "data", now_ns=DATA_END_NS)
    KeyStore(fac.cfg.path(fac.cfg.notify.central_bank.key_dir)).generate()
    Ledger(fac.cfg.state_db).append(  # the ledger's first entry: an empty one reads as broken
        "key.generated", {}, at_ns=DATA_END_NS - 7200 * NS_PER_S, actor="cli", subject="test-site"
    )
    fac.store.write(
        [
            Sample(DATA_END_NS - (3 + k * 10) * NS_PER_S, "rig-03", "chip_temp_c", 95.0)
            for k in range(120)
        ]
    )
    alerts = AlertStore(fac.cfg.state_db)
    server = serve_known(fac, alerts)
    yield Site(fac, server)
    server.stop()
    alerts.close()
    fac.store.close()


def log_in(browser: Browser, url: str, token: str, **context: object) -> Page:
    page = browser.new_context(accept_downloads=True, **context).new_page()  # type: ignore[arg-type]
    page.goto(f"{url}/login#token={token}")
    return page


def show_yesterday(page: Page) -> None:
    page.fill("#from", (MIDNIGHT - timedelta(days=1)).strftime("%Y-%m-%d"))
    page.fill("#to", MIDNIGHT.strftime("%Y-%m-%d"))
    page.click("#show")
    expect(page.locator("#result")).to_be_visible(timeout=30_000)


def test_inspector_reads_the_report_in_russian_and_downloads_the_signed_pdf(
    chromium: Browser, site: Site, tmp_path: Path
) -> None:
    page = log_in(chromium, site.server.url, TOKENS["inspector"])
    page.wait_for_url(f"{site.server.url}/inspect")
    page.select_option("#lang", "ru")
    expect(page.locator("#show")).to_have_text("Показать отчёт")
    show_yesterday(page)
    th05 = page.locator("#rules tr", has_text="TH-05")
    expect(th05).to_contain_text("Температура чипа выше максимума для модели")
    expect(th05).to_contain_text("нарушено")
    expect(th05).to_have_class("verdict-breached")
    expect(page.locator("#breaches .evidence canvas").first).to_be_visible()
    expect(page.locator("#ledger")).to_contain_text("Проверка журнала: цел")

    with page.expect_download() as info:
        page.click("button.dl[data-format=pdf]")
    pdf = tmp_path / info.value.suggested_filename
    info.value.save_as(pdf)
    assert pdf.name.endswith(".ru.pdf")
    text = " ".join(
        subprocess.run(
            ["pdftotext", str(pdf), "-"], capture_output=True, text=True, check=True
        ).stdout.split()
    )
    assert "Температура чипа выше максимума для модели" in text and "Заключение" in text
    sig_link = page.locator("#sigs a")
    expect(sig_link).to_have_text(f"{pdf.name}.sig")
    with page.expect_download() as sig_info:
        sig_link.click()
    sig_info.value.save_as(tmp_path / f"{pdf.name}.sig")
    verified = subprocess.run(
        [".venv/bin/minewatch", "verify-report", str(pdf)], capture_output=True, text=True
    )
    assert verified.returncode == 0, verified.stdout + verified.stderr

    overflow = screenshot_at_widths(page, "inspect-report-ru")
    assert overflow == {1400: 0, 390: 0}
    page.context.close()


def test_inspector_cannot_acknowledge(chromium: Browser, site: Site) -> None:
    page = log_in(chromium, site.server.url, TOKENS["inspector"])
    page.wait_for_url(f"{site.server.url}/inspect")
    status = page.evaluate(
        """async () => (await fetch('/api/v1/alerts/1/ack', {method: 'POST',
             headers: {'Content-Type': 'application/json'},
             body: JSON.stringify({comment: 'seen'})})).status"""
    )
    assert status == 403
    page.goto(f"{site.server.url}/")  # the operator's page sends the inspector back
    page.wait_for_url(f"{site.server.url}/inspect")
    page.context.close()


def test_browser_language_picks_turkmen(chromium: Browser, site: Site) -> None:
    page = log_in(chromium, site.server.url, TOKENS["inspector"], locale="tk-TM")
    page.wait_for_url(f"{site.server.url}/inspect")
    expect(page.locator("#show")).to_have_text("Hasabaty görkez")
    expect(page.locator("html")).to_have_attribute("lang", "tk")
    page.context.close()
