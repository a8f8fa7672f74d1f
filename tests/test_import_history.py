"""``minewatch import``: history in JSON lines, CSV (long and wide) and InfluxDB line protocol, from
a file or stdin, renamed by a mapping file, idempotent, bad lines rejected with their reason and the
good ones beside them kept — into SQLite and InfluxDB."""

from __future__ import annotations

from pathlib import Path

import orjson
import yaml
from typer.testing import CliRunner

from minewatch.cli import app
from minewatch.collector.importer import Importer, ImportMapping, parse_ts
from minewatch.sample import NS_PER_S
from minewatch.store import SqliteStore
from minewatch.store.influx import InfluxStore
from tests.support.analyzer import T0, facility_cfg, facility_yaml

T = 1_767_225_600  # 2026-01-01T00:00:00Z


def _import(tmp_path: Path, *args: str, stdin: str | None = None) -> dict:
    res = CliRunner().invoke(
        app, ["import", *args, "--config", str(facility_yaml(tmp_path))], input=stdin
    )
    assert res.exit_code == 0, res.output
    return orjson.loads(res.stdout)


def _store(tmp_path: Path) -> SqliteStore:
    return SqliteStore(facility_cfg(tmp_path).telemetry_db)


def test_jsonl_long_and_wide_with_a_reject_file_twice(tmp_path: Path) -> None:
    src = tmp_path / "history.jsonl"
    src.write_text(
        "\n".join(
            [
                orjson.dumps(
                    {"ts": T, "device": "rig-1", "metric": "chip_temp_c", "value": 70}
                ).decode(),
                orjson.dumps(
                    {
                        "ts": "2026-01-01T00:01:00Z",
                        "device": "rig-1",
                        "chip_temp_c": 71,
                        "fan_rpm_1": 5000,
                    }
                ).decode(),
                "{not json",
                orjson.dumps(
                    {"ts": T + 120, "device": "rig-1", "metric": "chip temp", "value": 1}
                ).decode(),
                orjson.dumps({"ts": T + 180, "device": "rig-1", "chip_temp_c": "hot"}).decode(),
                orjson.dumps({"ts": T + 240, "device": "rig-1", "chip_temp_c": 72}).decode(),
            ]
        )
        + "\n"
    )
    rejects = tmp_path / "rejects.tsv"
    first = _import(tmp_path, str(src), "--rejects", str(rejects))
    assert first["samples"] == 4 and first["lines"] == 6
    assert first["rejected_by_reason"] == {"bad_json": 1, "bad_metric": 1, "bad_value": 1}
    lines = rejects.read_text().splitlines()
    assert [ln.split("\t")[0] for ln in lines] == ["3", "4", "5"]
    assert "'chip temp' is not a metric name" in lines[1]
    again = _import(tmp_path, str(src))
    assert again["samples"] == 4
    df = _store(tmp_path).query(0, 2**62)
    assert len(df) == 4  # idempotent: the same (device, metric, ts) stored once
    assert sorted(df["ts"].unique().tolist()) == [
        T * NS_PER_S,
        (T + 60) * NS_PER_S,
        (T + 240) * NS_PER_S,
    ]


def test_csv_wide_from_stdin_with_a_mapping_file(tmp_path: Path) -> None:
    mapping = tmp_path / "mapping.yaml"
    mapping.write_text(
        yaml.safe_dump(
            {
                "devices": {"MTR01": "meter-1"},
                "metrics": {"P_kW_x1000": "power_w", "U1": "voltage_v_l1"},
                "device_info": {
                    "meter-1": {
                        "kind": "power_meter",
                        "model": "eastron-sdm630",
                        "role": "revenue_meter",
                    }
                },
            }
        )
    )
    csv_text = "ts,device,P_kW_x1000,U1\n" + "".join(
        f"{(T + 10 * i) * 1000},MTR01,{60000 + i},{230}\n" for i in range(50)
    )
    out = _import(
        tmp_path,
        "-",
        "--format",
        "csv",
        "--ts-unit",
        "ms",
        "--mapping",
        str(mapping),
        stdin=csv_text,
    )
    assert out["samples"] == 100 and out["devices"] == 1 and out["first"] == "2026-01-01T00:00:00Z"
    store = _store(tmp_path)
    dev = store.devices().set_index("device").loc["meter-1"]
    assert dev["role"] == "revenue_meter" and dev["first_seen"] == T * NS_PER_S
    assert set(store.query(0, 2**62)["metric"]) == {"power_w", "voltage_v_l1"}


def test_line_protocol_into_influxdb(influx_store: InfluxStore) -> None:
    imp = Importer(influx_store, ImportMapping(device_tag="host"), "line")
    lines = [
        f'meter,host=meter-1,site=a power_w=60000,voltage_v_l1=230i,note="x y" {T0}',
        f"meter,host=meter-1 power_w=61000 {T0 + 10 * NS_PER_S}",
        f"fire,host=fire\\ panel fire_alarm_bool=t {T0}",
        "meter,host=meter-1 power_w=1",
    ]
    for n, line in enumerate(lines, start=1):
        imp.feed(n, line, None)
    imp.flush()
    assert imp.summary.samples == 4 and imp.summary.rejected == {"missing_timestamp": 1}
    df = influx_store.query(T0 - NS_PER_S, T0 + 60 * NS_PER_S)
    got = {(r.device, r.metric, r.value) for r in df.itertuples()}
    assert got == {
        ("meter-1", "power_w", 60000.0),
        ("meter-1", "voltage_v_l1", 230.0),
        ("meter-1", "power_w", 61000.0),
        ("fire panel", "fire_alarm_bool", 1.0),
    }


def test_timestamps_say_what_is_wrong() -> None:
    assert parse_ts("2026-01-01T00:00:00+05:00") == (T - 5 * 3600) * NS_PER_S
    assert parse_ts(T) == parse_ts(T * 1000) == parse_ts(float(T)) == T * NS_PER_S
    for bad, why in (("2026-01-01 00:00", "no time zone"), ("soon", "not RFC 3339")):
        try:
            parse_ts(bad)
        except ValueError as exc:
            assert why in str(exc)
        else:
            raise AssertionError(bad)


def test_a_spreadsheet_export_in_local_time_with_decimal_commas(tmp_path: Path) -> None:
    """What a SCADA or Excel export in a Russian locale looks like: a UTF-8 byte order mark, ';'
    between columns, decimal commas, local time without a zone. Read with --timezone, each value
    lands at its UTC instant; a thousands separator is rejected, not misread."""
    src = tmp_path / "export.csv"
    src.write_bytes(
        "\ufeffts;device;metric;value\n"
        "2026-01-01 05:00:00;meter-1;power_w;60000,5\n"
        "2026-01-01 05:00:10;meter-1;power_w;60001\n"
        "2026-01-01 05:00:20;meter-1;power_w;1.234,5\n".encode()
    )
    rejects = tmp_path / "rejects.tsv"
    out = _import(tmp_path, str(src), "--timezone", "Asia/Ashgabat", "--rejects", str(rejects))
    assert out["samples"] == 2 and out["rejected_by_reason"] == {"bad_value": 1}
    assert out["first"] == "2026-01-01T00:00:00Z"  # Ashgabat is UTC+5
    rows = _store(tmp_path).query(0, 2**62)
    assert list(rows["value"]) == [60000.5, 60001.0]
    assert rejects.read_text().startswith("4\t")


def test_local_times_need_a_zone_and_a_dst_gap_is_rejected(tmp_path: Path) -> None:
    src = tmp_path / "local.csv"
    src.write_text(
        "ts,device,metric,value\n"
        "2026-03-29 01:30:00,rig-1,chip_temp_c,70\n"
        "2026-03-29 02:30:00,rig-1,chip_temp_c,71\n"  # clocks jump 02:00 → 03:00 in Berlin
        "2026-03-29 03:30:00,rig-1,chip_temp_c,72\n"
    )
    zoneless = _import(tmp_path, str(src))
    assert zoneless["samples"] == 0 and zoneless["rejected_by_reason"] == {"bad_timestamp": 3}
    berlin = _import(tmp_path, str(src), "--timezone", "Europe/Berlin")
    assert berlin["samples"] == 2 and berlin["rejected_by_reason"] == {"bad_timestamp": 1}
    ts = list(_store(tmp_path).query(0, 2**62)["ts"])
    assert [t // NS_PER_S - ts[0] // NS_PER_S for t in ts] == [0, 3600]  # 01:30 CET, 03:30 CEST
    res = CliRunner().invoke(
        app,
        [
            "import",
            str(src),
            "--timezone",
            "Mars/Olympus",
            "--config",
            str(facility_yaml(tmp_path)),
        ],
    )
    assert res.exit_code == 2 and "not an IANA time zone" in res.output
