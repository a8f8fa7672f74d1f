"""A small facility with known telemetry in a real SqliteStore, for the API contract tests."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from minewatch.analyzer.state import AlertStore
from minewatch.api.app import create_app
from minewatch.api.auth import TokenTable
from minewatch.api.server import ApiServer
from minewatch.config import FacilityConfig
from minewatch.profiles import DeviceProfile
from minewatch.sample import NS_PER_S, DeviceMeta, Sample
from minewatch.store import SqliteStore
from tests.support.ports import free_port

#: "Now" for every contract test: 2026-01-05T12:00:00Z.
NOW_NS = 1_767_614_400 * NS_PER_S
NOW_TXT = "2026-01-05T12:00:00Z"
TOKENS = {
    "operator": "op-token-0123456789abcdef",
    "inspector": "in-token-0123456789abcdef",
    "admin": "ad-token-0123456789abcdef",
}
TOKENS_ENV = ",".join(f"{role}:{tok}" for role, tok in TOKENS.items())


def facility_config(data_dir: Path, capacity_kw: float = 100.0) -> FacilityConfig:
    """The test site; its signing keys (for report files) live in ``<data_dir>/keys``."""
    return FacilityConfig.model_validate(
        {
            "facility": {"id": "test-site", "name": "Test site"},
            "licence": {"number": "TM-2026-0001", "capacity_kw": capacity_kw, "region": "Mary"},
            "storage": {"data_dir": str(data_dir)},
            "analysis": {"interval_s": 10},
            "notify": {"central_bank": {"key_dir": str(data_dir / "keys")}},
        }
    )


def rig_profile() -> DeviceProfile:
    return DeviceProfile.model_validate(
        {
            "id": "test-rig",
            "kind": "asic_miner",
            "vendor": "Test",
            "model": "Rig 1",
            "rated": {"power_w": {"value": 3500, "source": "test nameplate"}},
            "limits": {"chip_temp_c": {"warn_above": 80, "max_above": 90, "source": "test manual"}},
            "mqtt": {"fields": {"power_w": {"path": "power"}, "chip_temp_c": {"path": "temp"}}},
        }
    )


@dataclass
class KnownFacility:
    cfg: FacilityConfig
    store: SqliteStore
    rigs: list[str]
    meter: str
    #: Seconds between the chip temperature samples of rig-01 over the last hour.
    series_every_s: int = 10


def fill_known_facility(
    data_dir: Path, with_meter: bool = True, now_ns: int = NOW_NS
) -> KnownFacility:
    """Five rigs (rig-05 silent for ten minutes), a revenue meter at 20 kW (every minute, the last
    30 s ago), an hour of rig-01 temperatures.

    Rig temperatures are 60..64 °C (rig-0N at 59+N); every fresh rig draws 3.5 kW. ``now_ns`` moves
    everything in time (the page tests use the wall clock, which the browser shares).
    """
    cfg = facility_config(data_dir)
    store = SqliteStore(data_dir / "telemetry.db")
    rigs = [f"rig-0{i}" for i in range(1, 6)]
    metas = [
        DeviceMeta(r, "asic_miner", "test-rig", "hall-a" if i < 3 else "hall-b", f"R{i}", "rig")
        for i, r in enumerate(rigs, start=1)
    ]
    if with_meter:
        metas.append(DeviceMeta("meter-main", "power_meter", "test-meter", "", "", "revenue_meter"))
    store.upsert_devices(metas)
    samples = []
    for i, rig in enumerate(rigs, start=1):
        ts = now_ns - (600 if rig == "rig-05" else 5) * NS_PER_S
        samples += [
            Sample(ts, rig, "power_w", 3500.0),
            Sample(ts, rig, "chip_temp_c", 59.0 + i),
            Sample(ts, rig, "hashrate_ths", 200.0),
        ]
    for k in range(360):  # rig-01 chip temperature every 10 s over the last hour: 50.0 + k/10
        samples.append(
            Sample(
                now_ns - 3600 * NS_PER_S + k * 10 * NS_PER_S, "rig-01", "chip_temp_c", 50.0 + k / 10
            )
        )
    if with_meter:
        for k in range(60):
            samples.append(
                Sample(
                    now_ns - (60 - k) * 60 * NS_PER_S + 30 * NS_PER_S,
                    "meter-main",
                    "power_w",
                    20_000.0,
                )
            )
    store.write(samples)
    return KnownFacility(cfg, store, rigs, "meter-main")


def make_client(fac: KnownFacility, **kwargs: Any) -> TestClient:
    app = create_app(
        fac.cfg,
        fac.store,
        tokens=TokenTable.parse(TOKENS_ENV, "test tokens"),
        profiles={"test-rig": rig_profile()},
        clock=lambda: NOW_NS,
        **kwargs,
    )
    return TestClient(app)


def serve_known(
    fac: KnownFacility, alert_store: AlertStore | None = None, **kwargs: Any
) -> ApiServer:
    """The known facility behind a real uvicorn server on a free port, pushing live updates twice a
    second."""
    app = create_app(
        fac.cfg,
        fac.store,
        alert_store,
        tokens=TokenTable.parse(TOKENS_ENV, "test tokens"),
        profiles={"test-rig": rig_profile()},
        live_interval_s=0.5,
        **kwargs,
    )
    server = ApiServer(app, "127.0.0.1", free_port())
    server.start()
    return server


#: A compliance profile with one rule: chip temperature above the model's limit for 20 s is
#: critical.
OVERHEAT_PROFILE = {
    "id": "test-overheat",
    "title": "Overheat only",
    "jurisdiction": "test",
    "version": "1",
    "rules": [
        {
            "id": "TH-05",
            "title": "Chip over-temperature",
            "kind": "threshold",
            "family": "thermal",
            "severity": "critical",
            "selector": {"role": "rig"},
            "for": "20s",
            "params": {
                "metric": "chip_temp_c",
                "above": {"limit": "chip_temp_c.max_above"},
                "clear_above": 85,
                "max_age": "30s",
                "unit": "°C",
            },
            "source": "test: device profile limit",
        }
    ],
}


def overheat_profile() -> Any:
    from minewatch.analyzer.profile_loader import validate_profile

    return validate_profile(OVERHEAT_PROFILE, "test-overheat profile")
