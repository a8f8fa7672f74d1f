"""The inspector's report files through the real API: a signed PDF (read back with pdftotext), JSON
and CSV whose SHA-256 is that of the exact bytes, and ``minewatch verify-report`` run as the
inspector would, on the downloaded files."""

from __future__ import annotations

import hashlib
import os
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from minewatch.analyzer.state import AlertStore
from minewatch.ledger import Ledger
from minewatch.notifier.signing import KeyStore
from minewatch.sample import NS_PER_S, Sample
from tests.support.api import NOW_NS, TOKENS, KnownFacility, make_client

INSPECTOR = {"Authorization": f"Bearer {TOKENS['inspector']}"}
PERIOD = {"from": "2026-01-05T10:00:00Z", "to": "2026-01-05T12:00:00Z"}


@dataclass
class Inspecting:
    client: TestClient
    keys: Path
    out: Path


@pytest.fixture
def inspecting(known: KnownFacility, tmp_path: Path) -> Iterator[Inspecting]:
    """rig-03 at 95 °C (its model's limit is 90) for the last 20 minutes: one TH-05 breach."""
    keys = known.cfg.path(known.cfg.notify.central_bank.key_dir)
    KeyStore(keys).generate()
    # the ledger's first entry (an empty ledger is itself a finding: entries were deleted)
    Ledger(known.cfg.state_db).append(
        "key.generated",
        {"key_dir": str(keys)},
        at_ns=NOW_NS - 7200 * NS_PER_S,
        actor="cli",
        subject="test-site",
    )
    known.store.write(
        [
            Sample(NOW_NS - (3 + k * 10) * NS_PER_S, "rig-03", "chip_temp_c", 95.0)
            for k in range(120)
        ]
    )
    alerts = AlertStore(known.cfg.state_db, clock=lambda: NOW_NS)
    with make_client(known, alert_store=alerts) as c:
        yield Inspecting(c, keys, tmp_path / "downloads")
    alerts.close()


def download(it: Inspecting, fmt: str, lang: str = "en") -> Path:
    """The file and its ``.sig`` saved side by side, as the inspector's browser would."""
    resp = it.client.get(
        "/api/v1/reports/file", params={**PERIOD, "format": fmt, "lang": lang}, headers=INSPECTOR
    )
    assert resp.status_code == 200, resp.text
    name = resp.headers["content-disposition"].split('filename="')[1].rstrip('"')
    assert resp.headers["x-report-sha256"] == hashlib.sha256(resp.content).hexdigest()
    sig = it.client.get(
        f"/api/v1/reports/signatures/{resp.headers['x-report-sha256']}", headers=INSPECTOR
    )
    assert sig.status_code == 200 and sig.json()["file"] == name
    it.out.mkdir(exist_ok=True)
    (it.out / name).write_bytes(resp.content)
    (it.out / f"{name}.sig").write_bytes(sig.content)
    return it.out / name


def verify_report(*args: str, lang: str = "en") -> subprocess.CompletedProcess[str]:
    """The command as an inspector runs it, in a terminal whose locale is ``lang``."""
    return subprocess.run(
        [sys.executable, "-m", "minewatch.cli", "verify-report", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={
            **os.environ,
            "LC_ALL": {"en": "C.UTF-8", "ru": "ru_RU.UTF-8", "tk": "tk_TM.UTF-8"}[lang],
        },
    )


def pdf_text(path: Path) -> str:
    return subprocess.run(
        ["pdftotext", "-layout", str(path), "-"], capture_output=True, text=True, check=True
    ).stdout


def test_pdf_states_what_an_inspector_cites(inspecting: Inspecting) -> None:
    pdf = download(inspecting, "pdf")
    assert pdf.read_bytes().startswith(b"%PDF-")
    text = pdf_text(pdf)
    flat = " ".join(text.split())
    assert "Compliance report" in text and "Test site (test-site)" in text
    assert "2026-01-05T10:00:00Z" in flat and "2026-01-05T12:00:00Z" in flat
    assert "Generated at 2026-01-05T12:00:00Z" in flat and "minewatch 0.1.0" in flat
    json_file = download(inspecting, "json")
    assert hashlib.sha256(json_file.read_bytes()).hexdigest() in flat  # the JSON the PDF cites
    assert "Ledger head #1 " in flat and "Ledger verification intact" in flat
    assert "Chip temperature above the model's maximum" in flat  # the breached rule, by title
    assert "breached" in flat and "insufficient data" in flat
    assert "TH-05" in flat and "rig-03" in flat and "peak 95.00 °C (limit 90.00 °C)" in flat
    assert "None" not in text  # missing numbers read "no data"


def test_downloads_verify_and_a_changed_byte_does_not(inspecting: Inspecting) -> None:
    for fmt in ("pdf", "json", "csv"):
        path = download(inspecting, fmt)
        ok = verify_report(str(path))
        assert ok.returncode == 0 and f"{path}: VALID" in ok.stdout, ok.stdout + ok.stderr
        assert hashlib.sha256(path.read_bytes()).hexdigest() in ok.stdout
        trusted = verify_report(str(path), "--key", str(inspecting.keys))
        assert trusted.returncode == 0 and "trusted key" in trusted.stdout
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))
    bad = verify_report(str(path))
    assert bad.returncode == 1 and "MISMATCH" in bad.stdout and "NOT VALID" in bad.stdout


def test_verify_report_speaks_the_terminal_language(inspecting: Inspecting) -> None:
    path = download(inspecting, "csv")
    ru = verify_report(str(path), lang="ru")
    assert ru.returncode == 0 and "совпадает" in ru.stdout and "файлом подписи" in ru.stdout
    assert ru.stdout.rstrip().endswith("ДЕЙСТВИТЕЛЕН")
    tk = verify_report(str(path), "--lang", "tk", lang="ru")  # the option wins over the locale
    assert tk.returncode == 0 and tk.stdout.rstrip().endswith("DOGRY")
    missing = verify_report(str(path.with_name("nothing.pdf")), lang="tk")
    assert missing.returncode == 2 and "okap bolmady" in missing.stderr


def test_a_key_the_inspector_does_not_trust_is_refused(
    inspecting: Inspecting, tmp_path: Path
) -> None:
    path = download(inspecting, "json")
    other = KeyStore(tmp_path / "other-keys")
    other.generate()
    res = verify_report(str(path), "--key", str(other.dir))
    assert res.returncode == 1 and "not among the trusted keys" in res.stdout


def test_report_files_are_for_inspectors(inspecting: Inspecting) -> None:
    resp = inspecting.client.get(
        "/api/v1/reports/file",
        params=PERIOD,
        headers={"Authorization": f"Bearer {TOKENS['operator']}"},
    )
    assert resp.status_code == 403
    bad = inspecting.client.get(
        "/api/v1/reports/file", params={**PERIOD, "format": "docx"}, headers=INSPECTOR
    )
    assert bad.status_code == 400 and bad.json()["error"]["parameter"] == "format"
    missing = inspecting.client.get(f"/api/v1/reports/signatures/{'0' * 64}", headers=INSPECTOR)
    assert missing.status_code == 404 and missing.json()["error"]["parameter"] == "sha256"


@pytest.mark.parametrize(
    ("lang", "words"),
    [
        (
            "ru",
            [
                "Отчёт",
                "соответствии требованиям",
                "Температура чипа выше максимума для модели",
                "нарушено",
                "Заключение",
            ],
        ),
        (
            "tk",
            [
                "Talaplara laýyklyk hasabaty",
                "Çipiň temperaturasy modeliň iň ýokary çäginden ýokary",
                "bozuldy",
                "Netije",
            ],
        ),
    ],
)
def test_pdf_in_russian_and_turkmen_with_translated_rule_titles(
    inspecting: Inspecting, lang: str, words: list[str]
) -> None:
    flat = " ".join(pdf_text(download(inspecting, "pdf", lang)).split())
    for word in words:
        assert word in flat, word
    assert "Chip temperature above the model's maximum" not in flat


def test_pdf_language_follows_the_browser_without_a_choice(inspecting: Inspecting) -> None:
    resp = inspecting.client.get(
        "/api/v1/reports/file",
        params=PERIOD,
        headers={**INSPECTOR, "Accept-Language": "tk-TM,tk;q=0.9,ru;q=0.8"},
    )
    assert resp.status_code == 200 and resp.headers["content-disposition"].endswith('.tk.pdf"')


def test_page_translations_come_from_the_catalogs(inspecting: Inspecting) -> None:
    body = inspecting.client.get("/api/v1/i18n/ru", headers=INSPECTOR).json()
    assert body["messages"]["Show report"] == "Показать отчёт"
    assert body["rule_titles"]["FS-01"] == "Пожарная тревога или задымление"
    assert inspecting.client.get("/api/v1/i18n/de", headers=INSPECTOR).status_code == 400
    # the login page reads the catalog before any login; the facility's profile stays private
    anonymous = inspecting.client.get("/api/v1/i18n/ru").json()
    assert anonymous["messages"]["token not recognised"] == "токен не распознан"
    assert anonymous["rule_titles"] == {}


def test_ledger_verification_finds_an_edited_entry(
    inspecting: Inspecting, known: KnownFacility
) -> None:
    ledger = Ledger(known.cfg.state_db)
    for k in range(3):
        ledger.append("alert.ack", {"n": k}, at_ns=NOW_NS - k, actor="operator#1", subject="rig-03")
    intact = inspecting.client.get("/api/v1/ledger", headers=INSPECTOR).json()
    assert intact["ok"] is True and intact["entries"] == 4 and intact["head"]["seq"] == 4
    with sqlite3.connect(known.cfg.state_db) as db:
        db.execute("UPDATE ledger SET payload = ? WHERE seq = 3", ('{"n": 99}',))
    broken = inspecting.client.get("/api/v1/ledger", headers=INSPECTOR).json()
    assert broken["ok"] is False and broken["problems"][0]["seq"] == 3
    flat = " ".join(pdf_text(download(inspecting, "pdf")).split())
    assert "Ledger verification BROKEN" in flat


def test_pdf_says_what_muted_a_breach(inspecting: Inspecting, known: KnownFacility) -> None:
    """An operator's silence over the breach does not take it out of the inspector's PDF: the
    breach is listed, with the silence that suppressed its operator alert."""
    silences = AlertStore(known.cfg.state_db, clock=lambda: NOW_NS)
    silences.add_silence(
        {"rule_id": "TH-05"}, NOW_NS - 3600 * NS_PER_S, NOW_NS, "night shift", "fan swap"
    )
    silences.close()
    flat = " ".join(pdf_text(download(inspecting, "pdf")).split())
    assert "TH-05" in flat and "rig-03" in flat
    assert "operator alert suppressed: silence #1 by night shift: fan swap" in flat


def test_signatures_outlive_a_restart_and_the_ledger_names_who_got_each_file(
    inspecting: Inspecting, known: KnownFacility
) -> None:
    pdf = download(inspecting, "pdf")
    sha = hashlib.sha256(pdf.read_bytes()).hexdigest()
    with make_client(known) as restarted:  # a new server process would start from the same files
        sig = restarted.get(f"/api/v1/reports/signatures/{sha}", headers=INSPECTOR)
        assert (
            sig.status_code == 200 and sig.content == (pdf.parent / f"{pdf.name}.sig").read_bytes()
        )
        unknown = restarted.get(f"/api/v1/reports/signatures/{'0' * 64}", headers=INSPECTOR)
        assert unknown.status_code == 404 and "never served" in unknown.text
    signed = Ledger(known.cfg.state_db).of_kinds(["report.signed"], sha)
    assert [(e.actor.split("#")[0], e.payload["file"]) for e in signed] == [("inspector", pdf.name)]
    assert Ledger(known.cfg.state_db).verify().ok  # the entries are part of the hash chain
