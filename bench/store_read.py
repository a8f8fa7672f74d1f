"""Read latency of the SQLite store at 30,000 rigs, against the previous (row-by-row, joined) read
path.

The baseline is the read code ``SqliteStore`` had before the columnar read path, kept below verbatim
(``baseline_latest``/``baseline_query``), run on the same file in the same process, interleaved with
the current code so both see the same page cache and machine load.

- ``latest()``: newest value of every series (rigs x 12 metrics rows).
- ``query()`` of one instant (one 10 s poll round of every rig) and of a 60 s window (six rounds).
- ``query(step_ns=60 s, agg="mean")`` over the 60 s window (the analyzer's aggregate read).
- ``latest(metrics=["power_w"])``: a filtered read (one metric of every rig).
- ``devices()``.

Run: ``python bench/store_read.py [--rigs 30000] [--rounds 7] [--repeat 3]``. The file is filled
with raw inserts (series ids in random order, as on a site where rigs come and go), not timed.
"""

from __future__ import annotations

import argparse
import random
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import pandas as pd

from minewatch.sample import NS_PER_S
from minewatch.store.base import SAMPLE_COLUMNS, empty_samples
from minewatch.store.sqlite import _SQL_AGG, SqliteStore

METRICS = [
    "power_w",
    "chip_temp_c",
    "board_temp_c",
    "inlet_temp_c",
    "outlet_temp_c",
    "hashrate_ths",
    "fan_rpm_1",
    "fan_rpm_2",
    "fan_rpm_3",
    "fan_rpm_4",
    "up",
    "error_code",
]
T0 = 1_767_225_600 * NS_PER_S
STEP = 10 * NS_PER_S


# --- baseline: the read path before this change, verbatim except for taking the connection as
# argument ---
def _baseline_filters(
    devices: Sequence[str] | None, metrics: Sequence[str] | None
) -> tuple[str, list[object]]:
    clauses, args = [], []
    if devices is not None:
        clauses.append(f"s.device IN ({','.join('?' * len(devices))})")
        args.extend(devices)
    if metrics is not None:
        clauses.append(f"s.metric IN ({','.join('?' * len(metrics))})")
        args.extend(metrics)
    return (" AND ".join(clauses) or "1"), args


def _baseline_frame(rows: list[tuple]) -> pd.DataFrame:
    if not rows:
        return empty_samples()
    df = pd.DataFrame(rows, columns=SAMPLE_COLUMNS)
    df["ts"] = df["ts"].astype("int64")
    df["value"] = df["value"].astype("float64")
    return df


def baseline_latest(
    conn: sqlite3.Connection,
    devices: Sequence[str] | None = None,
    metrics: Sequence[str] | None = None,
) -> pd.DataFrame:
    where, args = _baseline_filters(devices, metrics)
    cur = conn.execute(
        "SELECT l.ts, s.device, s.metric, l.value FROM latest l JOIN series s ON s.id = "
        "l.series_id "
        f"WHERE {where} ORDER BY s.device, s.metric",
        args,
    )
    return _baseline_frame(cur.fetchall())


def baseline_query(
    conn: sqlite3.Connection,
    start_ns: int,
    end_ns: int,
    step_ns: int | None = None,
    agg: str = "mean",
) -> pd.DataFrame:
    where, args = _baseline_filters(None, None)
    base = (
        f"FROM samples x JOIN series s ON s.id = x.series_id "
        f"WHERE {where} AND x.ts >= ? AND x.ts < ?"
    )
    args = [*args, start_ns, end_ns]
    if step_ns is None:
        rows = conn.execute(
            f"SELECT x.ts, s.device, s.metric, x.value {base} ORDER BY s.device, s.metric, x.ts",
            args,
        ).fetchall()
        return _baseline_frame(rows)
    bucket = f"(x.ts / {int(step_ns)}) * {int(step_ns)}"
    rows = conn.execute(
        f"SELECT {bucket} AS b, s.device, s.metric, {_SQL_AGG[agg]}(x.value) {base} "
        f"GROUP BY x.series_id, b ORDER BY s.device, s.metric, b",
        args,
    ).fetchall()
    return _baseline_frame(rows)


def baseline_devices(conn: sqlite3.Connection) -> pd.DataFrame:
    cols = ["device", "kind", "model", "zone", "rack", "role", "first_seen", "last_seen"]
    return pd.DataFrame(
        conn.execute(f"SELECT {', '.join(cols)} FROM devices ORDER BY device").fetchall(),
        columns=cols,
    )


# --- end of baseline ---


def fill(path: Path, rigs: int, rounds: int) -> None:
    SqliteStore(path).close()
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    keys = [(f"rig-{d:05d}", m) for d in range(rigs) for m in METRICS]
    random.Random(1).shuffle(keys)
    conn.execute("BEGIN")
    conn.executemany("INSERT INTO series (device, metric) VALUES (?, ?)", keys)
    ids = [sid for (sid,) in conn.execute("SELECT id FROM series")]
    for r in range(rounds):
        ts = T0 + r * STEP
        conn.executemany(
            "INSERT INTO samples VALUES (?, ?, ?)",
            [(sid, ts, 1000.0 + sid + r * 0.5) for sid in ids],
        )
    conn.execute(
        "INSERT INTO latest SELECT series_id, MAX(ts), value FROM samples GROUP BY series_id"
    )
    conn.executemany(
        "INSERT INTO devices (device, kind, zone, rack, role, first_seen, last_seen) "
        "VALUES (?, 'asic_miner', 'hall-a', ?, 'rig', ?, ?)",
        [(f"rig-{d:05d}", f"r{d // 40:03d}", T0, T0 + (rounds - 1) * STEP) for d in range(rigs)],
    )
    conn.execute("COMMIT")
    conn.close()


def timed(fn: Callable[[], pd.DataFrame]) -> tuple[float, pd.DataFrame]:
    t = time.perf_counter()
    df = fn()
    return time.perf_counter() - t, df


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rigs", type=int, default=30_000)
    ap.add_argument(
        "--rounds", type=int, default=7, help="10 s poll rounds stored (>= 6 for the 60 s window)"
    )
    ap.add_argument("--repeat", type=int, default=3)
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "read.db"
        t = time.perf_counter()
        fill(path, a.rigs, a.rounds)
        print(
            f"filled {a.rigs} rigs x {len(METRICS)} metrics x {a.rounds} rounds in "
            f"{time.perf_counter() - t:.1f} s"
        )
        store = SqliteStore(path)
        conn = sqlite3.connect(path)
        last = T0 + (a.rounds - 1) * STEP
        cases: list[tuple[str, Callable[[], pd.DataFrame], Callable[[], pd.DataFrame]]] = [
            ("latest()", store.latest, lambda: baseline_latest(conn)),
            (
                "query(one instant)",
                lambda: store.query(last, last + STEP),
                lambda: baseline_query(conn, last, last + STEP),
            ),
            (
                "query(60 s window)",
                lambda: store.query(last - 5 * STEP, last + STEP),
                lambda: baseline_query(conn, last - 5 * STEP, last + STEP),
            ),
            (
                "query(60 s, step 60 s, mean)",
                lambda: store.query(last - 5 * STEP, last + STEP, step_ns=60 * NS_PER_S),
                lambda: baseline_query(conn, last - 5 * STEP, last + STEP, 60 * NS_PER_S),
            ),
            (
                "latest(metrics=[power_w])",
                lambda: store.latest(metrics=["power_w"]),
                lambda: baseline_latest(conn, metrics=["power_w"]),
            ),
            ("devices() (code unchanged)", store.devices, lambda: baseline_devices(conn)),
        ]
        t, _ = timed(store.latest)
        print(f"first read (builds the in-memory series index): {t * 1000:.0f} ms")
        print(f"{'read':32s} {'rows':>9s} {'now ms':>9s} {'before ms':>10s} {'speed-up':>9s}")
        for name, now, before in cases:
            ours, theirs = [], []
            for _ in range(a.repeat):
                t_now, df_now = timed(now)
                t_before, df_before = timed(before)
                ours.append(t_now)
                theirs.append(t_before)
            pd.testing.assert_frame_equal(
                df_now.reset_index(drop=True), df_before.reset_index(drop=True), check_dtype=False
            )  # same answer, or the figure means nothing
            m_now, m_before = statistics.median(ours), statistics.median(theirs)
            print(
                f"{name:32s} {len(df_now):9d} {m_now * 1000:9.0f} {m_before * 1000:10.0f} "
                f"{m_before / m_now:8.1f}x"
            )
        store.close()
        conn.close()


if __name__ == "__main__":
    main()
