"""CLI: ``minewatch analyze`` (the live loop), ``report`` (a period), ``curtail`` (add a curtailment
order), ``alerts``, ``ack`` and ``silence`` (operator actions from a shell)."""

from __future__ import annotations

import json
import signal
import sys
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from minewatch.alerting import ALERT_FILTERS
from minewatch.analyzer.report_progress import report_progress
from minewatch.analyzer.state import AlertStore
from minewatch.config import FacilityConfig, load_facility
from minewatch.errors import MinewatchError
from minewatch.events import EventBus
from minewatch.readable import readable
from minewatch.sample import now_ns
from minewatch.store import TelemetryStore, open_store


def parse_time(v: str) -> int:
    """RFC 3339 / ISO 8601 (``2026-01-01T00:00:00Z``; a date alone is midnight UTC) → ns."""
    try:
        dt = datetime.fromisoformat(v.replace("Z", "+00:00"))
    except ValueError as exc:
        raise typer.BadParameter(
            f"expected an RFC 3339 time like 2026-01-01T00:00:00Z, got {v!r}"
        ) from exc
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return int(dt.timestamp()) * 10**9 + dt.microsecond * 1000


#: Builds the event bus of an ``analyze``/``alerts``/``ack`` process. The composition root passes
#: it in: every event of such a process (transitions, acks, silences, orders, reports) must be
#: ledgered and queued for the regulator, and only the root knows who listens.
BusFactory = Callable[[FacilityConfig, TelemetryStore], EventBus]


def register(app: typer.Typer, bus_factory: BusFactory) -> None:
    def _open(config: Path) -> tuple[FacilityConfig, TelemetryStore, AlertStore, EventBus]:
        cfg = load_facility(config)
        store = open_store(cfg)
        bus = bus_factory(cfg, store)
        return cfg, store, AlertStore(cfg.state_db, bus), bus

    @app.command("analyze")
    def analyze(
        config: Annotated[Path, typer.Option("--config", "-c", help="facility.yaml")],
        once: Annotated[bool, typer.Option(help="Evaluate one cycle and exit")] = False,
    ) -> None:
        """Run the compliance analyzer loop against the configured store (Ctrl-C stops it)."""
        from minewatch.analyzer.engine import Analyzer
        from minewatch.analyzer.report import device_profiles_for

        cfg, store, alerts, bus = _open(config)
        bus.subscribe(
            lambda e: typer.echo(
                json.dumps({"kind": e.kind, "subject": e.subject, "to": e.payload.get("to_state")})
            )
        )
        an = Analyzer(cfg, store, alerts, bus, device_profiles_for(cfg))
        if once:
            an.evaluate_once()
            typer.echo(json.dumps(readable(an.stats())))
            return
        done = threading.Event()
        signal.signal(signal.SIGINT, lambda *_: done.set())
        signal.signal(signal.SIGTERM, lambda *_: done.set())
        an.start()
        typer.echo(
            f"analyzer running: profile {an.profile.id}, {len(an.evaluator.rules)} rules, "
            f"every {cfg.analysis.interval_s} s",
            err=True,
        )
        done.wait()
        an.stop()

    @app.command("report")
    def report(
        config: Annotated[Path, typer.Option("--config", "-c")],
        start: Annotated[str, typer.Option("--from", help="Period start, RFC 3339")],
        end: Annotated[str, typer.Option("--to", help="Period end (exclusive), RFC 3339")],
        profile: Annotated[
            str | None, typer.Option(help="Compliance profile id or path (default: facility's)")
        ] = None,
        fmt: Annotated[str, typer.Option("--format", help="json | csv (breaches) | text")] = "json",
        step_s: Annotated[
            float | None,
            typer.Option(
                "--step-s",
                help="Coarser evaluation step for long periods "
                "(default: exact replay at the live steps)",
            ),
        ] = None,
        out: Annotated[
            Path | None, typer.Option("--out", help="Write here instead of stdout")
        ] = None,
    ) -> None:
        """Evaluate a past period with the live engine and issue the compliance report."""
        from minewatch.analyzer.report import build_report, to_csv, to_json, to_text
        from minewatch.events import Event

        if fmt not in ("json", "csv", "text"):
            raise typer.BadParameter("format must be json, csv or text", param_hint="--format")
        cfg, store, alerts, bus = _open(config)
        a, b = parse_time(start), parse_time(end)
        if b <= a:
            raise typer.BadParameter("--to must be after --from")
        with report_progress() as progress:
            rep = build_report(
                cfg, store, alerts, profile, a, b, report_step_s=step_s, progress=progress
            )
        data = (
            to_json(rep)
            if fmt == "json"
            else (to_csv(rep) if fmt == "csv" else to_text(rep)).encode()
        )
        bus.publish(
            Event(
                "report.issued",
                now_ns(),
                "cli",
                f"report:{rep['period']['start']}",
                {
                    "from": rep["period"]["start"],
                    "to": rep["period"]["end"],
                    "sha256": rep["sha256"],
                },
            )
        )
        if out is None:
            sys.stdout.buffer.write(data)
        else:
            out.write_bytes(data)
            typer.echo(f"wrote {out} (sha256 {rep['sha256']})", err=True)

    @app.command("curtail")
    def curtail(
        config: Annotated[Path, typer.Option("--config", "-c")],
        target_kw: Annotated[
            float, typer.Option("--target-kw", help="Facility load must fall to this")
        ],
        start: Annotated[str, typer.Option("--from")],
        end: Annotated[str, typer.Option("--to")],
        by: Annotated[
            str, typer.Option("--by", help="Who issued the order (grid operator, regulator)")
        ],
        response_s: Annotated[
            float, typer.Option("--response-s", help="Allowed time to reach the target")
        ] = 600,
        reason: Annotated[str, typer.Option("--reason")] = "",
    ) -> None:
        """Record a curtailment order; the schedule rules enforce it."""
        from minewatch.analyzer.curtailment import add_order

        _cfg, _store, alerts, _bus = _open(config)
        try:
            order = add_order(
                alerts,
                target_kw=target_kw,
                starts_at_ns=parse_time(start),
                ends_at_ns=parse_time(end),
                response_s=response_s,
                issued_by=by,
                reason=reason,
            )
        except ValueError as exc:
            raise typer.BadParameter(str(exc)) from exc
        typer.echo(json.dumps(readable(order)))

    @app.command("alerts")
    def alerts_cmd(
        config: Annotated[Path, typer.Option("--config", "-c")],
        state: Annotated[
            str | None, typer.Option(help="|".join(ALERT_FILTERS) + " (as the API's state=)")
        ] = None,
        limit: Annotated[int, typer.Option()] = 50,
    ) -> None:
        """List alerts, newest first (JSON lines, times in RFC 3339 as the API gives them)."""
        _cfg, _store, alerts, _bus = _open(config)
        try:
            rows = alerts.list_alerts(state, limit)
        except ValueError as exc:
            raise typer.BadParameter(str(exc), param_hint="--state") from exc
        for a in rows:
            a.pop("evidence", None)
            typer.echo(json.dumps(readable(a)))

    @app.command("ack")
    def ack(
        alert_id: int,
        config: Annotated[Path, typer.Option("--config", "-c")],
        by: Annotated[str, typer.Option("--by")],
        comment: Annotated[str, typer.Option("--comment")] = "",
        expires: Annotated[
            str | None, typer.Option("--expires", help="RFC 3339; re-notify if still firing then")
        ] = None,
    ) -> None:
        """Acknowledge an alert (annotates; never stops regulator delivery)."""
        _cfg, _store, alerts, _bus = _open(config)
        try:
            a = alerts.acknowledge(alert_id, by, comment, parse_time(expires) if expires else None)
        except MinewatchError as exc:  # unknown, resolved, or a bad --expires
            raise typer.BadParameter(str(exc)) from exc
        ack = {
            "alert_id": a["id"],
            "ack_by": a["ack_by"],
            "ack_expires_at_ns": a["ack_expires_at_ns"],
        }
        typer.echo(json.dumps(readable(ack)))

    @app.command("silence")
    def silence(
        config: Annotated[Path, typer.Option("--config", "-c")],
        match: Annotated[
            list[str],
            typer.Option("--match", help="label=value (rule_id, subject, family, severity)"),
        ],
        end: Annotated[str, typer.Option("--to")],
        by: Annotated[str, typer.Option("--by")],
        reason: Annotated[str, typer.Option("--reason")],
        start: Annotated[str | None, typer.Option("--from")] = None,
        maintenance: Annotated[bool, typer.Option(help="Record as a maintenance window")] = False,
    ) -> None:
        """Mute operator notifications for matching alerts until --to (regulator delivery is never
        muted)."""
        _cfg, _store, alerts, _bus = _open(config)
        matchers = {}
        for m in match:
            k, sep, v = m.partition("=")
            if not sep:
                raise typer.BadParameter(f"expected label=value, got {m!r}", param_hint="--match")
            matchers[k] = v
        try:
            s = alerts.add_silence(
                matchers,
                parse_time(start) if start else now_ns(),
                parse_time(end),
                by,
                reason,
                "maintenance" if maintenance else "silence",
            )
        except ValueError as exc:
            raise typer.BadParameter(str(exc)) from exc
        typer.echo(json.dumps(readable(s)))
