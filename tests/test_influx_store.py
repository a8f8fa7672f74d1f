"""InfluxDB backend beyond the shared contract: schema, v2 writes, bad lines, start-up,
credentials."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
import yaml

from minewatch.config import ConfigError, load_facility
from minewatch.config.storage import InfluxSettings
from minewatch.events import Event, EventBus
from minewatch.sample import NS_PER_S, DeviceMeta, Sample, now_ns
from minewatch.store.alerts import attach_alert_recorder
from minewatch.store.base import StoreUnavailable
from minewatch.store.influx import InfluxStore
from minewatch.store.influx_http import StoreAuthError
from minewatch.store.spool import Spool
from minewatch.store.spooling import SpoolingStore
from tests.support.influx import Server, influxql
from tests.support.influx_fixtures import FACILITY

T0 = 1_767_225_600 * NS_PER_S  # 2026-01-01T00:00:00Z
RIG = DeviceMeta("rig-1", "asic_miner", "antminer-s21", "hall-a", "r01", "rig")
METER = DeviceMeta("meter-1", "power_meter", "sdm630", "hall-a", "", "revenue_meter")


def test_schema_is_measurement_per_kind_with_identity_tags_and_metric_fields(
    influx_store: InfluxStore, influxd_server: Server
) -> None:
    influx_store.upsert_devices([RIG, METER])
    influx_store.write(
        [
            Sample(T0, "rig-1", "power_w", 3500.0),
            Sample(T0, "rig-1", "chip_temp_c", 71.5),
            Sample(T0, "meter-1", "power_w", 1.2e6),
        ]
    )
    db = influx_store.settings.database
    rows = influxql(influxd_server, 'SELECT * FROM "asic_miner"', db)[0]["series"][0]
    rec = dict(zip(rows["columns"], rows["values"][0], strict=True))
    assert rec == {
        "time": T0,
        "chip_temp_c": 71.5,
        "power_w": 3500.0,
        "device": "rig-1",
        "facility": FACILITY,
        "model": "antminer-s21",
        "rack": "r01",
        "role": "rig",
        "zone": "hall-a",
    }
    tag_keys = influxql(influxd_server, 'SHOW TAG KEYS FROM "power_meter"', db)[0]["series"][0][
        "values"
    ]
    assert [k for (k,) in tag_keys] == [
        "device",
        "facility",
        "model",
        "role",
        "zone",
    ]  # empty rack: no tag


def test_metadata_is_shared_between_processes(influx_store: InfluxStore) -> None:
    influx_store.upsert_devices([RIG])
    other = InfluxStore(influx_store.settings, facility=FACILITY)  # e.g. the analyzer's process
    try:
        other.write([Sample(T0, "rig-1", "power_w", 1.0)])
        assert other.devices().set_index("device").loc["rig-1", "role"] == "rig"
        assert other.query(T0, T0 + 1, devices=["rig-1"])["value"].tolist() == [1.0]
    finally:
        other.close()
    assert influx_store.latest(devices=["rig-1"])["value"].tolist() == [1.0]


def test_malformed_lines_are_isolated_counted_and_the_good_ones_land(
    influx_store: InfluxStore,
) -> None:
    good = [f"asic_miner,device=rig-{i},facility=x power_w={i}.0 {T0}" for i in range(40)]
    bad = [
        "asic_miner,device=rig-x power_w=",
        "no fields here",
        'asic_miner,device=rig-y power_w="str"x 1',
    ]
    lines = good[:10] + bad[:1] + good[10:30] + bad[1:] + good[30:]
    assert influx_store.write_lines(lines) == 3
    assert influx_store.counters.get("rejected_total", "influx_rejected") == 3
    assert influx_store.counters.get("influx_batch_splits_total") > 0
    assert len(influx_store.query(T0, T0 + 1)) == 40


def test_a_field_type_conflict_rejects_only_the_conflicting_points(
    influx_store: InfluxStore,
) -> None:
    influx_store.upsert_devices([RIG, DeviceMeta("rig-2", "asic_miner")])
    influx_store.write_lines(
        [f"asic_miner,device=other hashrate_ths=1i {T0}"]
    )  # someone wrote an integer
    influx_store.write(
        [
            Sample(T0, "rig-1", "power_w", 1.0),
            Sample(T0 + NS_PER_S, "rig-2", "hashrate_ths", 2.0),
            Sample(T0 + NS_PER_S, "rig-1", "power_w", 3.0),
        ]
    )
    assert influx_store.counters.get("rejected_total", "influx_rejected") == 1
    assert influx_store.query(T0, T0 + 10 * NS_PER_S, devices=["rig-1"])["value"].tolist() == [
        1.0,
        3.0,
    ]


def test_non_finite_values_are_counted_not_sent(influx_store: InfluxStore) -> None:
    influx_store.write(
        [Sample(T0, "rig-1", "power_w", float("nan")), Sample(T0, "rig-1", "chip_temp_c", 60.0)]
    )
    assert influx_store.counters.get("rejected_total", "non_finite_value") == 1
    assert influx_store.latest()["metric"].tolist() == ["chip_temp_c"]


def test_startup_creates_database_and_named_retention_policy(
    influxd_server: Server, v1_settings: Callable[..., InfluxSettings]
) -> None:
    settings = v1_settings(influxd_server, retention_policy="mw_30d")
    store = InfluxStore(settings, facility=FACILITY, retention_days=30)
    try:
        store.write([Sample(now_ns(), "rig-1", "power_w", 1.0)])  # inside the 30 days
    finally:
        store.close()
    rps = influxql(influxd_server, f'SHOW RETENTION POLICIES ON "{settings.database}"')[0][
        "series"
    ][0]
    durations = {row[0]: row[1] for row in rps["values"]}
    assert durations["mw_30d"] == "720h0m0s"


def test_wrong_credentials_give_a_clear_error(
    influxd_server: Server,
    v1_settings: Callable[..., InfluxSettings],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    settings = v1_settings(influxd_server)
    monkeypatch.setenv(settings.password_env, "wrong")
    store = InfluxStore(settings, facility=FACILITY)
    with pytest.raises(
        StoreAuthError,
        match=rf"refused user 'admin' with the password in \${settings.password_env}",
    ):
        store.write([Sample(T0, "rig-1", "power_w", 1.0)])
    store.close()


def test_bad_query_is_a_clear_error(influx_store: InfluxStore) -> None:
    with pytest.raises(ValueError, match="aggregate"):
        influx_store.query(T0, T0 + 1, agg="median")  # type: ignore[arg-type]


def test_v2_write_api_through_influxdb_client(victoria: Server) -> None:
    """influxdb-client → /api/v2/write of a real server (VictoriaMetrics), read back via its
    export API."""
    settings = InfluxSettings(
        url=victoria.url,
        api="v2",
        org="minewatch",
        bucket="telemetry",
        token_env=None,
        create=False,
        batch_lines=7,
    )
    store = InfluxStore(settings, facility=FACILITY)
    try:
        store.upsert_devices(
            [DeviceMeta("v2-rig", "asic_miner", "antminer-s21", "hall-b", "r09", "rig")]
        )
        samples = [Sample(T0 + i * NS_PER_S, "v2-rig", "power_w", 3000.0 + i) for i in range(50)]
        store.write(samples)  # 50 lines in batches of 7 (+1 metadata line)
        assert store.counters.get("influx_requests_total") >= 8
    finally:
        store.close()
    httpx.get(victoria.url + "/internal/force_flush").raise_for_status()
    r = httpx.get(
        victoria.url + "/api/v1/export",
        params={"match[]": '{__name__="asic_miner_power_w",device="v2-rig"}'},
    )
    r.raise_for_status()
    (series,) = [json.loads(line) for line in r.content.splitlines()]
    assert series["metric"] == {
        "__name__": "asic_miner_power_w",
        "device": "v2-rig",
        "facility": FACILITY,
        "model": "antminer-s21",
        "rack": "r09",
        "role": "rig",
        "zone": "hall-b",
    }
    assert series["values"] == [3000.0 + i for i in range(50)]
    assert series["timestamps"] == [
        (T0 + i * NS_PER_S) // 1_000_000 for i in range(50)
    ]  # VM keeps ms


def test_alert_transitions_are_copied_for_grafana(
    influx_store: InfluxStore, influxd_server: Server, tmp_path: Path
) -> None:
    bus = EventBus()
    assert attach_alert_recorder(bus, SpoolingStore(influx_store, Spool(tmp_path / "s.db", 10**6)))
    bus.publish(
        Event(
            "alert.transition",
            T0,
            "analyzer",
            "chip-temp:rig-1",
            {
                "alert_id": 7,
                "rule_id": "chip-temp",
                "family": "thermal",
                "severity": "major",
                "subject": "rig-1",
                "from_state": "pending",
                "to_state": "firing",
                "value": 96.5,
                "threshold": 95.0,
                "unit": "c",
                "reason": 'chip_temp_c 96.5 > 95 "for" 60 s',
                "regulator_notifiable": False,
            },
        )
    )
    assert bus.failures == 0
    res = influxql(
        influxd_server,
        'SELECT last("state") AS "state", last("value") AS "value", last("reason") AS '
        '"reason" FROM "minewatch_alerts" GROUP BY "rule_id", "subject", "severity"',
        influx_store.settings.database,
    )[0]["series"][0]
    assert res["tags"] == {"rule_id": "chip-temp", "subject": "rig-1", "severity": "major"}
    assert res["values"][0][1:] == ["firing", 96.5, 'chip_temp_c 96.5 > 95 "for" 60 s']


def test_long_ranges_come_back_whole_through_chunked_responses(influx_store: InfluxStore) -> None:
    n = 25_000  # more than two 10,000-row chunks
    influx_store.write([Sample(T0 + i * NS_PER_S, "rig-1", "power_w", float(i)) for i in range(n)])
    df = influx_store.query(T0, T0 + n * NS_PER_S)
    assert len(df) == n and df["value"].tolist() == [float(i) for i in range(n)]
    hourly = influx_store.query(T0, T0 + n * NS_PER_S, step_ns=3600 * NS_PER_S, agg="count")
    assert hourly["value"].sum() == n and len(hourly) == 7


@pytest.mark.parametrize(
    ("influx", "message"),
    [
        (
            {"url": "influx:8086"},
            r"storage.influxdb.url: Value error, url must start with http:// or https://",
        ),
        ({"api": "v2", "org": None}, r"storage.influxdb: Value error, api v2 needs 'org'"),
        (
            {"batch_lines": 0},
            r"storage.influxdb.batch_lines: Input should be greater than or equal to 1",
        ),
    ],
)
def test_influx_settings_are_validated_with_clear_errors(
    tmp_path: Path, influx: dict, message: str
) -> None:
    f = tmp_path / "facility.yaml"
    f.write_text(
        yaml.safe_dump(
            {
                "facility": {"id": "s", "name": "S"},
                "licence": {"number": "L", "capacity_kw": 1},
                "storage": {"backend": "influxdb", "influxdb": influx},
            }
        )
    )
    with pytest.raises(ConfigError, match=message):
        load_facility(f)


def test_a_database_dropped_under_the_store_is_created_again(
    influx_store: InfluxStore, influxd_server: Server
) -> None:
    influx_store.write([Sample(T0, "rig-1", "power_w", 1.0)])
    influxql(influxd_server, f'DROP DATABASE "{influx_store.settings.database}"')
    with pytest.raises(StoreUnavailable, match="HTTP 404"):  # this batch goes to the spool
        influx_store.write([Sample(T0 + NS_PER_S, "rig-1", "power_w", 2.0)])
    influx_store.write([Sample(T0 + 2 * NS_PER_S, "rig-1", "power_w", 3.0)])  # provisioned again
    assert influx_store.query(T0, T0 + 10 * NS_PER_S)["value"].tolist() == [3.0]
