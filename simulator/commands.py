"""``minewatch simulate``: publish a simulated facility's telemetry to an MQTT broker."""

from __future__ import annotations

import signal
import threading
from pathlib import Path
from typing import Annotated

import orjson
import typer

from minewatch.config import load_facility
from minewatch.logs import setup_logging
from minewatch.simulator.build import build_facility, parse_fault
from minewatch.simulator.control import send_fault_command
from minewatch.simulator.publisher import SimPublisher


def register(app: typer.Typer) -> None:
    @app.command("simulate")
    def simulate(
        config: Annotated[
            Path,
            typer.Option("--config", "-c", help="facility.yaml (its registry gives the rigs)"),
        ],
        broker: Annotated[
            str | None,
            typer.Option(
                help="host:port of the MQTT broker; default: the facility's mqtt.host/port"
            ),
        ] = None,
        rigs: Annotated[
            int | None,
            typer.Option(
                min=1, help="Simulate the demo layout's first N rigs instead of the registry"
            ),
        ] = None,
        fault: Annotated[
            list[str] | None,
            typer.Option(
                help="Fault at start, kind[:serial]; kinds: overheat, fan_fail, "
                "silent, unregistered, overload. Repeatable.",
            ),
        ] = None,
        interval_s: Annotated[
            float, typer.Option("--interval", min=0.1, help="Seconds between status messages")
        ] = 5.0,
        seed: Annotated[int, typer.Option(help="Random seed: same seed, same telemetry")] = 1,
        control_topic: Annotated[
            str, typer.Option(help="Topic for run-time fault commands")
        ] = "minewatch/sim/fault",
    ) -> None:
        """Publish rig and hall-sensor telemetry like on-site agents, with fault injection."""
        setup_logging()
        cfg = load_facility(config)
        host, port = cfg.mqtt.host, cfg.mqtt.port
        if broker:
            host, _, port_txt = broker.rpartition(":")
            if not host or not port_txt.isdigit():
                raise typer.BadParameter(
                    f"expected host:port, got {broker!r}", param_hint="--broker"
                )
            port = int(port_txt)
        facility = build_facility(cfg, rigs, seed)
        for spec in fault or []:
            kind, target = parse_fault(spec)
            try:
                facility.inject(kind, target)
            except (ValueError, KeyError) as exc:
                raise typer.BadParameter(str(exc.args[0]), param_hint="--fault") from None
        pub = SimPublisher(
            facility,
            host,
            port,
            facility_id=cfg.facility.id,
            interval_s=interval_s,
            control_topic=control_topic,
            client_id=f"minewatch-sim-{cfg.facility.id}",
        )
        done = threading.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: done.set())
        pub.start()
        typer.echo(
            f"simulating {len(facility.rigs)} rigs of {cfg.facility.id} -> mqtt://{host}:{port} "
            f"every {interval_s:g} s; faults: {control_topic}"
        )
        done.wait()
        pub.stop()
        st = pub.stats()
        typer.echo(
            f"stopped: {st.get('published', 0)} messages published, "
            f"{st.get('delivered', 0)} confirmed by the broker"
        )

    @app.command("sim-fault")
    def sim_fault(
        fault: Annotated[
            str, typer.Argument(help="overheat, fan_fail, silent, unregistered or overload")
        ],
        target: Annotated[
            str | None,
            typer.Option(help="Rig serial (rig faults) or new serial (unregistered)"),
        ] = None,
        clear: Annotated[
            bool, typer.Option("--clear", help="End the fault instead of starting it")
        ] = False,
        broker: Annotated[
            str, typer.Option(help="host:port of the broker the simulator uses")
        ] = "127.0.0.1:1883",
        control_topic: Annotated[
            str, typer.Option(help="The simulator's control topic")
        ] = "minewatch/sim/fault",
        timeout_s: Annotated[
            float, typer.Option(help="How long to wait for the simulator's answer")
        ] = 10.0,
    ) -> None:
        """Inject or clear a fault in a running simulator (over its MQTT control topic)."""
        host, _, port_txt = broker.rpartition(":")
        if not host or not port_txt.isdigit():
            raise typer.BadParameter(f"expected host:port, got {broker!r}", param_hint="--broker")
        reply = send_fault_command(
            host,
            int(port_txt),
            control_topic,
            fault,
            target,
            "clear" if clear else "inject",
            timeout_s,
        )
        if reply is None:
            typer.echo(
                f"no answer from a simulator on {control_topic} within {timeout_s:g} s", err=True
            )
            raise typer.Exit(1)
        typer.echo(orjson.dumps(reply).decode())
        if not reply.get("ok"):
            raise typer.Exit(1)
