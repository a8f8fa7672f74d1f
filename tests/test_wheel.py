"""The wheel a user installs: it holds everything minewatch needs and nothing outside ``minewatch``.

The source tree links the part folders into ``minewatch/``; a mistake there (a folder not linked, a
data file not declared as package data, a path computed from a checkout) only shows once the package
is installed somewhere else, so this builds the wheel, installs it into a fresh virtualenv and runs
the command from a folder that is not the checkout.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import urllib.request
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.ports import free_port
from tests.support.waiting import wait_for

ROOT = Path(__file__).resolve().parents[1]


#: Not part of the source: a stale ``build/`` would even put deleted modules into the wheel.
_NOT_SOURCE = shutil.ignore_patterns(
    ".git", ".venv", "build", "dist", "data", "*.egg-info", "__pycache__", ".pytest_cache"
)


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``python -m build --wheel`` without network (the test venv has setuptools and wheel), from a
    copy of the working tree (links kept as links), so the checkout gets no ``build/``."""
    src = tmp_path_factory.mktemp("src") / "minewatch"
    shutil.copytree(ROOT, src, symlinks=True, ignore=_NOT_SOURCE)
    out = tmp_path_factory.mktemp("dist")
    subprocess.run(
        [sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(out), "."],
        cwd=src,
        check=True,
        capture_output=True,
        timeout=300,
    )
    (built,) = out.glob("minewatch-*.whl")
    return built


@pytest.fixture(scope="module")
def installed(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv holding only the wheel; its dependencies come from the test venv through a
    ``.pth`` line naming that venv's site-packages (a plain path, so the test venv's editable
    install of minewatch, a ``.pth`` hook there, is not processed)."""
    venv = tmp_path_factory.mktemp("venv")
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    py = venv / "bin" / "python"
    site = subprocess.run(
        [py, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    Path(site, "test-venv-deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    subprocess.run(
        [py, "-m", "pip", "install", "-q", "--no-deps", "--no-index", str(wheel)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    return venv


def _clean_env() -> dict[str, str]:
    """No PYTHONPATH: the checkout must not leak into the installed copy."""
    return {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}


def test_only_top_level_name_is_minewatch(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as zf:
        names = zf.namelist()
        tops = {n.split("/")[0] for n in names if not n.split("/")[0].endswith(".dist-info")}
        (top_level,) = [n for n in names if n.endswith(".dist-info/top_level.txt")] or [None]
        if top_level:
            assert zf.read(top_level).decode().split() == ["minewatch"]
    assert tops == {"minewatch"}
    # the shipped data and the parts are inside, as files, not as links to a checkout
    for needed in (
        "minewatch/examples/facility.example.yaml",
        "minewatch/examples/demo/facility.yaml",
        "minewatch/collector/mqtt.py",
        "minewatch/api/app.py",
    ):
        assert needed in names, needed
    assert any(n.startswith("minewatch/device_profiles/") for n in names)
    assert any(n.startswith("minewatch/compliance_profiles/") for n in names)


def test_imported_package_is_the_wheels_copy(installed: Path, tmp_path: Path) -> None:
    out = subprocess.run(
        [installed / "bin" / "python", "-c", "import minewatch; print(minewatch.__file__)"],
        cwd=tmp_path,
        env=_clean_env(),
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    assert Path(out).is_relative_to(installed), out
    assert not Path(out).resolve().is_relative_to(ROOT), out


def test_example_then_check_config_from_another_folder(installed: Path, tmp_path: Path) -> None:
    exe = installed / "bin" / "minewatch"
    made = subprocess.run(
        [exe, "example", "site"], cwd=tmp_path, env=_clean_env(), capture_output=True, text=True
    )
    assert made.returncode == 0, made.stderr
    assert (tmp_path / "site" / "facility.example.yaml").is_file()
    assert (tmp_path / "site" / "registry.example.csv").is_file()
    checked = subprocess.run(
        [exe, "check-config", "site/facility.example.yaml"],
        cwd=tmp_path,
        env=_clean_env(),
        capture_output=True,
        text=True,
    )
    assert checked.returncode == 0, checked.stderr
    assert checked.stdout.strip().endswith(": OK")
    # a second copy into the same folder refuses instead of overwriting the user's edits
    again = subprocess.run(
        [exe, "example", "site"], cwd=tmp_path, env=_clean_env(), capture_output=True, text=True
    )
    assert again.returncode == 2
    assert "already exists" in again.stderr


@pytest.fixture
def demo(installed: Path, tmp_path: Path) -> Iterator[int]:
    port = free_port()
    proc = subprocess.Popen(
        [installed / "bin" / "minewatch", "demo", "--port", str(port), "--data-dir", "demo"],
        cwd=tmp_path,
        env=_clean_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        yield port
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        assert proc.stderr is not None
        proc.stderr.close()


def test_demo_serves_health(demo: int) -> None:
    def health() -> bytes | None:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{demo}/health", timeout=2) as r:
                return r.read() if r.status == 200 else None
        except OSError:
            return None

    body = wait_for(health, timeout_s=90, what="the installed demo's /health")
    assert b"store" in body
