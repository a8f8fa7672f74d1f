"""The live page and the login page in the reader's language, in real Chromium: what the scripts
write from data (utilisation, ages, the regulator's state, a rig's chart note) follows the language
switch into Russian and Turkmen, and the login page speaks a Russian browser's language before any
token is given. The English of the same texts is asserted in test_page_live.py."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from minewatch.api.server import ApiServer
from minewatch.sample import now_ns
from tests.support.api import TOKENS, KnownFacility, fill_known_facility, serve_known

pytestmark = pytest.mark.browser


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ApiServer]:
    fac: KnownFacility = fill_known_facility(tmp_path / "data", now_ns=now_ns())
    served = serve_known(fac)
    yield served
    served.stop()
    fac.store.close()


def live_page(browser: Browser, url: str) -> Page:
    page = browser.new_context().new_page()  # its own storage: the chosen language is remembered
    page.goto(f"{url}/login#token={TOKENS['operator']}")
    page.wait_for_url(f"{url}/")
    expect(page.locator("#power-kw")).to_have_text("20.0", timeout=10_000)
    return page


def test_live_page_follows_the_switch_to_russian_and_turkmen(
    chromium: Browser, server: ApiServer
) -> None:
    page = live_page(chromium, server.url)
    page.select_option("#lang", "ru")
    expect(page.locator("#utilisation")).to_have_text("20.0 % от лицензии")
    expect(page.locator("#power-source")).to_have_text("коммерческий счётчик")
    expect(page.locator("#licence")).to_have_text(re.compile(r"^лицензия \S+"))
    expect(page.locator("#conn-state")).to_have_text("онлайн", timeout=10_000)
    # the noqa: the lone letter is the Cyrillic es of Russian seconds, not a Latin c
    expect(page.locator("#updated")).to_have_text(re.compile(r"^\d+ с назад$"))  # noqa: RUF001
    expect(page.locator("#reg-state")).to_have_text("отключён")  # the channel is off here
    expect(page.locator("#reg-endpoint")).to_have_text("URL не настроен")
    expect(page.locator("#reg-endpoint").locator("xpath=preceding-sibling::span[1]")).to_have_text(
        "адрес"
    )
    expect(page.locator(".guide-80")).to_have_attribute(
        "title", "ориентир длительной нагрузки: 80 процентов лицензии"
    )
    hottest = page.locator("#hot-rows tr").first
    expect(hottest).to_contain_text("предел 90")
    expect(hottest.locator("td").last).to_have_text(re.compile(r"^\d+ (с|мин)$"))  # noqa: RUF001
    expect(page.locator("#hot-rows").locator("xpath=..").locator("th").last).to_have_text("возраст")
    page.locator('#hot-rows tr[data-device="rig-01"]').click()
    expect(page.locator("#detail-note")).to_have_text(
        re.compile(r"^последние 1h, максимумы за 1 мин, точек: 6[01]$"), timeout=10_000
    )
    expect(page.locator("#detail-chart")).to_contain_text("предел 90 °C")
    expect(page.locator("#detail-ranges button[data-range='24h']")).to_have_text("24 ч")
    expect(page.locator("#dev-search")).to_have_attribute(
        "placeholder", "поиск: id, модель, стойка"
    )

    page.select_option("#lang", "tk")
    expect(page.locator("#utilisation")).to_have_text("ygtyýarnamanyň 20.0 %-i")
    expect(page.locator("#reg-state")).to_have_text("öçürilen")
    expect(page.locator("#detail-note")).to_have_text(
        re.compile(r"^soňky 1h, 1 min aralykdaky iň ýokary bahalar, 6[01] nokat$"), timeout=10_000
    )
    expect(page.locator("#updated")).to_have_text(re.compile(r"^\d+ sek öň$"))
    page.context.close()


def test_login_page_speaks_a_russian_browsers_language(
    chromium: Browser, server: ApiServer
) -> None:
    context = chromium.new_context(locale="ru-RU")
    page = context.new_page()
    violations: list[str] = []
    page.on(
        "console",
        lambda m: violations.append(m.text) if "Content Security Policy" in m.text else None,
    )
    page.goto(f"{server.url}/login")
    expect(page.locator("html")).to_have_attribute("lang", "ru")  # the catalog came, no login
    expect(page.locator("h2")).to_have_text("minewatch — вход")
    expect(page.locator("#token")).to_have_attribute("placeholder", "токен")
    page.fill("#token", "not-a-token")
    page.click("button[type=submit]")
    expect(page.locator("#msg")).to_have_text("токен не распознан")
    assert violations == []  # the catalog script is the site's own: nothing from elsewhere
    context.close()
