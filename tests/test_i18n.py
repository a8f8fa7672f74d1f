"""The catalogs: every message the pages and the PDF use is translated into Russian and Turkmen, the
compiled ``.mo`` files say what the ``.po`` files say, and the language is negotiated from the
browser's header."""

from __future__ import annotations

from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po

from minewatch.i18n import gettext_for, negotiate, rule_title
from minewatch.resources import shipped

ROOT = Path(__file__).resolve().parents[1]
LOCALE = shipped("locale")


def source_messages() -> set[str]:
    """What ``pybabel extract -F babel.cfg -k t -k tf`` finds in the sources today."""
    with (ROOT / "babel.cfg").open() as fh:
        method_map, options_map = parse_mapping_cfg(fh)
    found = extract_from_dir(
        str(ROOT), method_map, options_map, keywords={"_": None, "N_": None, "t": None, "tf": None}
    )
    return {str(msg) for _file, _line, msg, _comments, _context in found}


@pytest.mark.parametrize("lang", ["ru", "tk"])
def test_every_message_is_translated_and_compiled(lang: str) -> None:
    folder = LOCALE / lang / "LC_MESSAGES"
    with (folder / "minewatch.po").open("rb") as fh:
        po = {str(m.id): str(m.string) for m in read_po(fh) if m.id}
    with (folder / "minewatch.mo").open("rb") as fh:
        mo = {str(m.id): str(m.string) for m in read_mo(fh) if m.id}
    used = source_messages()
    # html text, python, js t(), js tf(), js N_(), html attribute
    assert {"FIRE OR SMOKE ALARM", "Compliance report", "15-min demand"} <= used
    assert {"last {range}, {step} maxima, {n} points", "breach opened", "token"} <= used
    missing = used - set(po)
    assert not missing, f"not in the {lang} catalog (run the commands in minewatch/i18n.py)"
    assert all(po.values()), [k for k, v in po.items() if not v]
    assert mo == po, "the .mo is older than the .po: run pybabel compile"


def test_translations_and_fallbacks() -> None:
    assert gettext_for("ru")("Compliance report").endswith("соответствии требованиям")
    assert gettext_for("tk")("Show report") == "Hasabaty görkez"
    assert gettext_for("en")("Show report") == "Show report"
    assert gettext_for("ru")("a message nobody wrote") == "a message nobody wrote"
    titles = {"TH-05": {"ru": "Температура чипа выше максимума для модели"}}
    assert rule_title("TH-05", "Chip over-temperature", titles, "ru").startswith("Температура")
    assert rule_title("TH-05", "Chip over-temperature", titles, "tk") == "Chip over-temperature"


@pytest.mark.parametrize(
    ("header", "lang"),
    [
        ("ru-RU,ru;q=0.9,en;q=0.8", "ru"),
        ("de-DE, tk;q=0.5, ru;q=0.4", "tk"),
        ("en;q=0.2, ru;q=0.9", "ru"),
        ("fr, de", "en"),
        ("ru;q=abc, tk", "tk"),
        (None, "en"),
        ("", "en"),
    ],
)
def test_language_from_the_browser(header: str | None, lang: str) -> None:
    assert negotiate(header) == lang


@pytest.mark.parametrize(
    ("lang", "ok", "problems"),
    [
        ("en_US.UTF-8", ": OK", "problem(s) found"),
        ("ru_RU.UTF-8", ": в порядке", "найдено проблем: "),
        ("tk_TM.UTF-8", ": kadaly", " mesele tapyldy"),
    ],
)
def test_check_config_speaks_the_terminals_language(
    lang: str, ok: str, problems: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The CLI's sentences follow LANG; the problems themselves keep their file and path."""
    from typer.testing import CliRunner

    from minewatch.cli import app
    from minewatch.resources import example_config, shipped

    for src in (example_config(), shipped("examples", "registry.example.csv")):
        (tmp_path / src.name).write_bytes(src.read_bytes())
    good = tmp_path / "facility.example.yaml"
    bad = tmp_path / "bad.yaml"
    bad.write_text(good.read_text().replace("capacity_kw:", "capacity_kw: -5 #", 1))
    monkeypatch.setenv("LANG", lang)
    monkeypatch.delenv("LC_ALL", raising=False)
    monkeypatch.delenv("LC_MESSAGES", raising=False)
    runner = CliRunner()
    passed = runner.invoke(app, ["check-config", str(good)])
    assert passed.exit_code == 0 and passed.stdout.strip().endswith(ok), passed.output
    failed = runner.invoke(app, ["check-config", str(bad)])
    assert failed.exit_code == 1 and problems in failed.output
    assert "capacity_kw" in failed.output
