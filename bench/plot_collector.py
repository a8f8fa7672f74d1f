"""MQTT collector throughput and lag against fleet size, before and after issue #14 P1, as a PNG for
docs/benchmarks.md.

For each fleet size (default 200, 1,000, 3,000, 10,000 and 30,000 rigs; distinct device ids change
the store's ``latest``/``devices`` work and the decoder's per-device state), on a fresh Mosquitto:

- **flood**: a backlog of ``--flood`` simulator messages from that many rigs (consecutive rounds of
  the first N rigs of the demo layout) drained by the bare paho MQTT 3.1.1 subscriber (the issue's
  baseline), by the collector of the ``--before`` tree and by this tree's collector, each in its
  own process and timed alike (``bench/collector_drain.py``): messages/s and CPU µs per message.
  Each collector drains twice: first rigs it and its store have never seen (every series new),
  then later rounds of the same rigs (the store knows them: what a running collector meets);
- **live**: the simulator publishing every rig once every 10 s (30,000 rigs = 3,000 msg/s, the
  design size) for ``--seconds``, stored by each tree's collector: lag p50 and max.

Run (a few minutes)::

    git archive 8b70764 | (mkdir -p /tmp/mw-8b70764 && tar -x -C /tmp/mw-8b70764)
    python bench/plot_collector.py --before /tmp/mw-8b70764 [--flood 20000] [--seconds 20]

The figures are printed as they come and the plot written to ``--out``
(default docs/collector-throughput.png), with the load average in its title.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import matplotlib  # noqa: E402

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from collector_mqtt import (  # noqa: E402
    DEFAULT_BATCH_WAIT_MS,
    child_drain,
    live_stream,
    load,
    sim_messages,
)

from minewatch.config import load_facility  # noqa: E402
from tests.support.mosquitto import start_mosquitto  # noqa: E402
from tests.support.mqtt import facility_file  # noqa: E402

SIZES = (200, 1000, 3000, 10000, 30000)
#: How often each simulated rig publishes in the live stream (the demo facility's cadence).
LIVE_INTERVAL_S = 10.0


def measure(work: Path, rigs: int, flood: int, seconds: float, trees: dict[str, Path]) -> dict:
    """Flood drains (baseline; each tree cold, then warm) and live lag (each tree) at one size."""
    cfg = load_facility(facility_file(work, 1883, rigs))  # for its layout: port unused
    start = time.time() - 86400
    cold = sim_messages(cfg, flood, start, n_rigs=rigs)
    warm = sim_messages(cfg, flood, start + 3600, n_rigs=rigs)  # later rounds of the same rigs
    out: dict[str, Any] = {"rigs": rigs, "load_before": load()}
    out["baseline"] = child_drain("paho-3.1.1", work, [cold], rigs)[0]
    for name, tree in trees.items():
        first, then = child_drain("collector", work, [cold, warm], rigs, tree)
        out[name] = {"cold": first, "warm": then}
    for name, tree in trees.items():
        live_broker = start_mosquitto(work / f"live-{name}" / "mosquitto")
        try:
            live_config = facility_file(
                work / f"live-{name}", live_broker.port, rigs, batch_wait_ms=DEFAULT_BATCH_WAIT_MS
            )
            out[name]["live"] = live_stream(
                live_config, live_broker.port, rigs, LIVE_INTERVAL_S, seconds, tree
            )
        finally:
            live_broker.stop()
    out["load_after"] = load()
    return out


def report(row: dict, trees: dict[str, Path]) -> None:
    base = row["baseline"]
    print(
        f"{row['rigs']:>6,} rigs (load {row['load_before']} -> {row['load_after']}): "
        f"bare paho 3.1.1 {base['rate']:,.0f} msg/s {base['cpu_per_msg'] * 1e6:.0f} us CPU/msg",
        flush=True,
    )
    for name in trees:
        live = row[name]["live"]
        drains = "; ".join(
            f"{when} {r['rate']:,.0f} msg/s {r['cpu_per_msg'] * 1e6:.0f} us CPU/msg "
            f"(ratio {r['rate'] / base['rate']:.2f} rate, "
            f"{base['cpu_per_msg'] / r['cpu_per_msg']:.2f} CPU)"
            for when, r in ((w, row[name][w]) for w in DRAINS)
        )
        print(
            f"    {name:>6}: {drains}; live: {live['acked']:,} of {live['sent']:,} stored, "
            f"lag p50 {live['lag_p50_s'] * 1000:,.0f} ms, max {live['lag_max_s'] * 1000:,.0f} ms",
            flush=True,
        )


#: The collector's two drains at each size: devices never seen (every series new to the store,
#: every device's metadata recorded) and the same rigs again (what a running collector meets).
DRAINS = {"cold": "first sight", "warm": "rigs known"}
STYLES = {"before": ("--", "tab:gray"), "after": ("-", "tab:blue")}


def plot(rows: list[dict], trees: dict[str, Path], out: Path, flood: int) -> None:
    sizes = [r["rigs"] for r in rows]
    fig, (thr, cpu, lag) = plt.subplots(1, 3, figsize=(16, 5), dpi=110)
    base = "bare paho MQTT 3.1.1 (baseline)"
    thr.plot(sizes, [r["baseline"]["rate"] for r in rows], ":ok", label=base)
    thr.plot(
        sizes, [r["baseline"]["rate"] / 2 for r in rows], ":", color="tab:red", label="0.5 of it"
    )
    thr.axhline(9000, color="tab:red", lw=0.8, alpha=0.6, label="9,000 msg/s")
    cpu.plot(sizes, [r["baseline"]["cpu_per_msg"] * 1e6 for r in rows], ":ok", label=base)
    for name in trees:
        style, colour = STYLES[name]
        for when, words in DRAINS.items():
            look = {"color": colour, "marker": "o" if when == "warm" else "x"}
            look["alpha"] = 1.0 if when == "warm" else 0.45
            label = f"collector {name}, {words}"
            thr.plot(sizes, [r[name][when]["rate"] for r in rows], style, label=label, **look)
            per_msg = [r[name][when]["cpu_per_msg"] * 1e6 for r in rows]
            cpu.plot(sizes, per_msg, style, label=label, **look)
        for stat, marker, alpha in (("p50", "o", 1.0), ("max", "^", 0.45)):
            lag.plot(
                sizes,
                [r[name]["live"][f"lag_{stat}_s"] * 1000 for r in rows],
                style,
                color=colour,
                marker=marker,
                alpha=alpha,
                label=f"collector {name}, {stat}",
            )
    for ax, title, unit in (
        (thr, f"flood drain of {flood:,} messages", "messages/s (ack after write)"),
        (cpu, "CPU per message, all threads", "µs CPU per message"),
        (lag, f"live: every rig once per {LIVE_INTERVAL_S:g} s", "lag, store - sample time (ms)"),
    ):
        ax.set_xscale("log")
        ax.set_xlabel("fleet size (rigs)")
        ax.set_ylabel(unit)
        ax.set_title(title, fontsize=10)
        ax.set_ylim(bottom=0)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.suptitle(
        "MQTT collector → SQLite against fleet size, before (8b70764) and after issue #14 P1 "
        f"(2 cores; load average {rows[0]['load_before'].split()[0]} → "
        f"{rows[-1]['load_after'].split()[0]})",
        fontsize=11,
    )
    fig.tight_layout()
    fig.savefig(out)
    print(f"wrote {out}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--before", type=Path, required=True, help="source tree of the code before")
    ap.add_argument("--sizes", default=",".join(map(str, SIZES)))
    ap.add_argument("--flood", type=int, default=20_000)
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "collector-throughput.png")
    args = ap.parse_args()
    trees = {"before": args.before, "after": ROOT}
    work = Path(tempfile.mkdtemp(prefix="plot-collector-"))
    try:
        rows = []
        for rigs in (int(s) for s in args.sizes.split(",")):
            rows.append(measure(work / str(rigs), rigs, args.flood, args.seconds, trees))
            report(rows[-1], trees)
        plot(rows, trees, args.out, args.flood)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
