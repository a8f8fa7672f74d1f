"""API latency and throughput against fleet size, before and after issue #14 P4, as a PNG for
docs/benchmarks.md.

Input: the JSON lines ``bench/api_latency.py --json`` writes, one file per code version, e.g.

    git archive <before-commit> | tar -x -C /tmp/mw-before   # plus this bench/api_latency.py
    (cd /tmp/mw-before && python bench/api_latency.py --sizes 200,1000,5000,10000,30000 \\
        --json /tmp/before.jsonl)
    python bench/api_latency.py --sizes 200,1000,5000,10000,30000 --json /tmp/after.jsonl
    python bench/plot_api.py /tmp/before.jsonl /tmp/after.jsonl --out docs/api-latency.png

Left: p99 per request (ms, log scale) of ``/api/v1/facility`` without a revenue meter (the costly
case), the 24 h raw series and the live snapshot (a tick that refreshes the trend). Right: requests
per second one client gets (1000 / median ms) for the same requests. Before dashed, after solid.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

#: (row name in api_latency.py, label, colour)
ROWS = [
    ("GET /api/v1/facility", "/api/v1/facility, back to back", "tab:blue"),
    (
        "GET /api/v1/facility, 20/s (1 in 20 recomputes)",
        "/api/v1/facility, 20/s (recomputes in the tail)",
        "tab:cyan",
    ),
    ("GET series 24 h raw (8,640 points)", "24 h raw series", "tab:orange"),
    ("live tick, trend due (in-process)", "live snapshot (trend due)", "tab:red"),
]
#: Rows an older api_latency.py wrote under another name: the same tick (the one that refreshed the
#: trend inline, before the refresh moved off the tick).
OLD_NAMES = {"live snapshot, steady (in-process)": "live tick, trend due (in-process)"}


def load(path: Path, meter: bool) -> dict[str, dict[int, dict]]:
    """Rows of one run by name, then by fleet size."""
    out: dict[str, dict[int, dict]] = {}
    for line in path.read_text().splitlines():
        row = json.loads(line)
        if row["meter"] == meter:
            out.setdefault(OLD_NAMES.get(row["name"], row["name"]), {})[row["rigs"]] = row
    return out


def plot(before: Path, after: Path, out: Path, meter: bool) -> None:
    runs = [(load(before, meter), "--", "before"), (load(after, meter), "-", "after")]
    fig, (lat, thr) = plt.subplots(1, 2, figsize=(12, 4.8), dpi=110)
    for data, style, when in runs:
        for name, label, colour in ROWS:
            by_size = data.get(name)
            if not by_size:
                continue  # a row the before code did not have
            sizes = sorted(by_size)
            lat.plot(
                sizes,
                [by_size[n]["p99_ms"] for n in sizes],
                style,
                marker="o",
                color=colour,
                label=f"{label} ({when})",
            )
            if "live" not in name:
                thr.plot(
                    sizes,
                    [1000 / by_size[n]["median_ms"] for n in sizes],
                    style,
                    marker="o",
                    color=colour,
                    label=f"{label} ({when})",
                )
    lat.axhline(50, color="grey", lw=0.8, ls=":")
    lat.axhline(100, color="grey", lw=0.8, ls=":")
    lat.set(
        xscale="log",
        yscale="log",
        xlabel="rigs",
        ylabel="p99 ms",
        title="latency p99 (targets 50 / 100 ms dotted)",
    )
    thr.set(
        xscale="log", yscale="log", xlabel="rigs", ylabel="requests/s", title="one client, 1/median"
    )
    lat.legend(fontsize=7)
    thr.legend(fontsize=7)
    meter_text = "with a revenue meter" if meter else "no revenue meter (power summed over rigs)"
    fig.suptitle(f"API at fleet size, {meter_text}: before and after issue #14 P4")
    fig.tight_layout()
    fig.savefig(out)
    print(f"wrote {out}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("before", type=Path)
    ap.add_argument("after", type=Path)
    ap.add_argument("--out", type=Path, default=Path("docs/api-latency.png"))
    ap.add_argument("--meter", action="store_true", help="the runs with a revenue meter")
    args = ap.parse_args()
    plot(args.before, args.after, args.out, args.meter)


if __name__ == "__main__":
    main()
