"""Analyzer live cycle against fleet size, before and after issue #14, as a PNG for
docs/benchmarks.md.

For each fleet size it runs ``bench/analyzer_live.py --json`` (late window 60 s, 2 % of samples
late) in this tree and, with ``--before-tree``, in an unpacked copy of the previous code (e.g. ``git
archive <commit> | tar -x -C DIR``), alternating the two at each size so both meet the same machine
load; then it plots median and p95 per cycle, wall and CPU time. ``--history-s`` (default 780)
is the telemetry the store holds before the first cycle: 780 s fills DQ-03's 12-minute look-back,
the steady state of a running site.

    .venv/bin/python bench/plot_analyzer.py [--before-tree /tmp/mw-before] [--out docs/x.png]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

ROOT = Path(__file__).resolve().parents[1]
SIZES = [200, 1000, 3000, 10_000, 30_000]


def measure(tree: Path, rigs: int, cycles: int, history_s: int, work: Path, out: Path) -> None:
    """One ``analyzer_live.py`` run in ``tree`` (its own code), figures appended to ``out``, its
    printout kept beside its store."""
    work.mkdir(parents=True, exist_ok=True)
    with (work / f"r{rigs}.txt").open("w") as log:
        subprocess.run(
            [
                sys.executable,
                str(tree / "bench" / "analyzer_live.py"),
                "--rigs",
                str(rigs),
                "--cycles",
                str(cycles),
                "--history-s",
                str(history_s),
                "--db",
                str(work / f"r{rigs}"),
                "--skip-resample",
                "--json",
                str(out),
            ],
            cwd=tree,
            check=True,
            stdout=log,
        )


def load(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def plot(after: list[dict], before: list[dict], history_s: int, out: Path) -> None:
    """Latency per cycle, wall (what the 1 s goal is about) and CPU (steadier on a shared machine),
    and throughput: rigs evaluated per second of CPU (rigs / median CPU per cycle)."""
    fig, axes = plt.subplots(1, 3, figsize=(16, 4.8), dpi=100)
    series = [
        (after, "window 60 s", "after (this tree), late window 60 s", "tab:blue"),
        (after, "window 0 s", "after, no late window (floor)", "tab:gray"),
        (before, "window 60 s", "before (--before-tree), late window 60 s", "tab:red"),
    ]
    for ax, (med_key, p95_key, what) in zip(
        axes, (("median", "p95", "wall"), ("median_cpu", "p95_cpu", "CPU")), strict=False
    ):
        for rows, label, name, color in series:
            pts = sorted((r["rigs"], r[med_key], r[p95_key]) for r in rows if r["label"] == label)
            if not pts:
                continue
            x, med, p95 = zip(*pts, strict=True)
            ax.plot(x, p95, "-o", color=color, label=f"{name}, p95")
            ax.plot(x, med, "--", color=color, alpha=0.6, label=f"{name}, median")
        ax.axhline(1.0, color="black", lw=0.8, ls=":", label="goal: every cycle <= 1 s")
        ax.set_yscale("log")
        ax.set_ylabel(f"live cycle, {what} seconds")
        ax.set_title(f"latency: tm-2026 live cycle, {what} time")
    for rows, label, name, color in series:
        pts = sorted((r["rigs"], r["rigs"] / r["median_cpu"]) for r in rows if r["label"] == label)
        if pts:
            axes[2].plot(*zip(*pts, strict=True), "-o", color=color, label=name)
    axes[2].set_ylabel("rigs evaluated per CPU second (full profile)")
    axes[2].set_title("throughput: rigs / median CPU per cycle")
    for ax in axes:
        ax.set_xscale("log")
        ax.set_xlabel("rigs (plus 312 meter, PDU, hall and fire-panel devices)")
        ax.grid(True, which="both", alpha=0.3)
    axes[0].legend(fontsize=7, loc="upper left")
    axes[2].legend(fontsize=7, loc="lower right")
    fig.suptitle(
        f"Analyzer live cycle vs fleet size, issue #14, {history_s} s of history "
        "(2 vCPU shared with other jobs)"
    )
    fig.tight_layout()
    fig.savefig(out)
    print(f"wrote {out}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--before-tree", type=Path, default=None)
    ap.add_argument("--sizes", type=int, nargs="+", default=SIZES)
    ap.add_argument("--cycles", type=int, default=9)
    ap.add_argument(
        "--history-s", type=int, default=780, help="780: DQ-03's 12-minute look-back held in full"
    )
    ap.add_argument("--work", type=Path, default=None, help="stores and JSON (kept)")
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "analyzer-live-cycle.png")
    ap.add_argument("--plot-only", action="store_true", help="re-plot the JSON in --work")
    a = ap.parse_args()
    work = a.work or Path(tempfile.mkdtemp(prefix="mw-plot-"))
    work.mkdir(parents=True, exist_ok=True)
    after_json, before_json = work / "after.jsonl", work / "before.jsonl"
    if not a.plot_only:
        for rigs in a.sizes:
            if a.before_tree is not None:
                measure(a.before_tree, rigs, a.cycles, a.history_s, work / "before", before_json)
            measure(ROOT, rigs, a.cycles, a.history_s, work / "after", after_json)
            print(f"{rigs:,} rigs measured")
    after, before = load(after_json), load(before_json)
    for rows, name in ((before, "before"), (after, "after")):
        for r in sorted(rows, key=lambda r: (r["label"], r["rigs"])):
            print(
                f"{name:6} {r['label']:<40} {r['rigs']:>6} rigs: median {r['median']:.3f} s, "
                f"p95 {r['p95']:.3f} s, median CPU {r['median_cpu']:.3f} s, load {r['load']:.1f}"
            )
    plot(after, before, a.history_s, a.out)


if __name__ == "__main__":
    main()
