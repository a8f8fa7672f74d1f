"""Wiring of the parts into processes: ``minewatch demo`` and ``minewatch run`` (``serve`` is in
api).

``Runtime`` holds what the parts share (config, store, event bus, profiles, alert state) and adds
parts to a ``Supervisor`` in start order. Every part ships in the one wheel, so each is imported
directly: a missing part is a broken installation, not a mode to run in.
"""

from __future__ import annotations

import logging
import re
import shutil
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Annotated, Any

import typer

from minewatch.analyzer.engine import Analyzer
from minewatch.analyzer.report import build_report
from minewatch.analyzer.state import AlertStore
from minewatch.api.app import create_app
from minewatch.api.auth import TokenTable
from minewatch.api.server import ApiServer
from minewatch.broker import EmbeddedBroker
from minewatch.central_bank import SimCentralBank
from minewatch.collector.commands import build_collectors
from minewatch.config import FacilityConfig, load_facility
from minewatch.config.polling import PollingSettings
from minewatch.errors import ConfigError, MinewatchError
from minewatch.logs import setup_logging
from minewatch.profiles import DeviceProfile, load_facility_profiles
from minewatch.registry import facility_registry
from minewatch.resources import demo_config
from minewatch.simulator.build import build_facility, parse_fault
from minewatch.simulator.modbus_runner import PollingSimulator
from minewatch.simulator.publisher import SimPublisher
from minewatch.store import TelemetryStore, open_backend, open_store
from minewatch.supervisor import Supervisor
from minewatch.wiring import event_bus

log = logging.getLogger("minewatch")

#: A folder holding this file was made by ``minewatch demo`` and may be wiped by the next one.
DEMO_MARKER = ".minewatch-demo"


class StorePart:
    """The store as a part: started first, closed last (a spooling store flushes on stop)."""

    def __init__(self, store: TelemetryStore) -> None:
        self.store = store

    def start(self) -> None:
        if hasattr(self.store, "start"):
            self.store.start()

    def stop(self) -> None:
        if hasattr(self.store, "stop"):
            self.store.stop()
        self.store.close()

    def stats(self) -> dict[str, Any]:
        return (
            self.store.stats()
            if hasattr(self.store, "stats")
            else {"backend": type(self.store).__name__}
        )


class Runtime:
    def __init__(self, cfg: FacilityConfig, writes: bool = True) -> None:
        """``writes=False`` (``serve``): the backend alone, and a notifier that only ledgers and
        queues. The outage spool and the delivery belong to the processes that write; a read-only
        API must not replay the spool or send messages beside them."""
        self.cfg = cfg
        self.supervisor = Supervisor()
        self.profiles = self._load_profiles()
        self.store = open_store(cfg) if writes else open_backend(cfg)
        self.supervisor.add("store", StorePart(self.store))
        self.bus, self.notifier = event_bus(
            cfg, self.store, deliver=writes, report_source=self._daily_report if writes else None
        )
        #: None once the analyzer failed to start: the page then says "no analyzer" instead of
        #: showing zero alerts.
        self.alert_store: AlertStore | None = AlertStore(cfg.state_db, bus=self.bus)
        self.faults: Any | None = None
        self.api_server: Any | None = None
        self.tokens: Any | None = None
        self.token_values: dict[str, str] | None = None
        #: Extra lines for ``announce()`` (what the demo adds around the facility).
        self.notes: list[str] = []

    @classmethod
    def from_config(cls, path: Path, writes: bool = True) -> Runtime:
        return cls(load_facility(path), writes)

    def _load_profiles(self) -> dict[str, DeviceProfile]:
        return load_facility_profiles(self.cfg)

    def expected_devices(self) -> set[str]:
        """Devices this facility must hear from: its equipment registry and the Modbus equipment
        it polls."""
        registered = set(facility_registry(self.cfg, self.profiles))
        return registered | {t.name for t in self.cfg.polling.modbus}

    # --- parts -------------------------------------------------------------------------------
    # Add order is start order (stop is the reverse): broker, simulated servers, collectors, then
    # the simulated publisher (the collector is subscribed before the first message), analyzer,
    # notifier, API. On stop the publisher goes quiet before the collector drains its queue.

    def use_broker(self, workdir: Path, prefer: str | None = None) -> None:
        """Run the demo's MQTT broker on a free port and point the facility's MQTT settings at
        it."""
        broker = EmbeddedBroker(workdir, prefer=prefer)  # type: ignore[arg-type]
        self.supervisor.add("broker", broker)
        mqtt = self.cfg.mqtt.model_copy(
            update={"host": broker.host, "port": broker.port, "protocol": broker.protocol}
        )
        self.cfg = self.cfg.model_copy(update={"mqtt": mqtt})

    def simulate(self, faults: list[str], interval_s: float = 5.0) -> None:
        """The simulated facility, its Modbus/miner-API servers (when present) and its MQTT
        publisher.

        ``faults`` (``kind[:serial]``) are injected before the first message; the API's admin
        endpoint and the simulator's MQTT control topic inject more at run time.
        """
        facility = build_facility(self.cfg)
        self.faults = self._simulated_devices(facility)
        for spec in faults:
            kind, target = parse_fault(spec)
            try:
                self.faults.inject(kind, target)
            except (ValueError, KeyError) as exc:
                raise ConfigError([f"--fault {spec}: {exc.args[0]}"]) from None
        self.add_collectors()
        self.supervisor.add(
            "simulator",
            SimPublisher(
                facility,
                self.cfg.mqtt.host,
                self.cfg.mqtt.port,
                facility_id=self.cfg.facility.id,
                interval_s=interval_s,
                client_id=f"minewatch-sim-{self.cfg.facility.id}",
            ),
        )

    def _simulated_devices(self, facility: Any) -> Any:
        """Modbus meters/PDUs/sensors and the rigs' miner APIs over the same facility model; the
        facility's ``polling`` section then points at them. Returns what takes faults."""
        sim = PollingSimulator(facility, self.profiles)
        self.supervisor.add("polling_simulator", sim)
        polling = PollingSettings.model_validate(
            {**self.cfg.polling.model_dump(), **sim.polling_settings()}
        )
        self.cfg = self.cfg.model_copy(update={"polling": polling})
        return sim

    def add_collectors(self) -> None:
        for part in build_collectors(self.cfg, self.store):
            self.supervisor.add(_snake(type(part).__name__), part)

    def add_analyzer(self, required: bool) -> None:
        """The live analyzer. With ``required`` (``run``) a broken compliance profile stops the
        start; the demo carries on without alerts and says why."""
        if self.alert_store is None:
            return
        try:
            analyzer = Analyzer(self.cfg, self.store, self.alert_store, self.bus, self.profiles)
        except ConfigError as exc:
            if required:
                raise
            log.error("analyzer not started: %s", "; ".join(exc.problems))
            self.alert_store = None
            return
        self.supervisor.add("analyzer", analyzer)

    def add_notifier(self) -> None:
        """The notifier made with the bus: ledger, outbox and (unless ``serve``) delivery;
        ``serve`` only ledgers and queues what it publishes (acknowledgements, silences, orders).
        """
        self.supervisor.add("notifier", self.notifier)

    def _daily_report(self, start_ns: int, end_ns: int) -> dict[str, Any]:
        """The notifier's daily report (the compliance profile is loaded when a report is due).
        Without a working analyzer this raises and the notifier sends what its ledger holds,
        saying why."""
        if self.alert_store is None:
            raise MinewatchError("the analyzer is not running in this process")
        return build_report(
            self.cfg,
            self.store,
            self.alert_store,
            None,
            start_ns,
            end_ns,
            device_profiles=self.profiles,
        )

    def add_api(self, host: str | None = None, port: int | None = None) -> None:
        if self.tokens is None:
            self.tokens = TokenTable.from_env(self.cfg.api.tokens_env)
        # /health lists every part, including those added after the API
        app = create_app(
            self.cfg,
            self.store,
            self.alert_store,
            self.bus,
            tokens=self.tokens,
            profiles=self.profiles,
            components=_LiveParts(self.supervisor),
            faults=self.faults,
        )
        self.api_server = ApiServer(
            app, host or self.cfg.api.host, self.cfg.api.port if port is None else port
        )
        self.supervisor.add("api", self.api_server)

    @property
    def api_url(self) -> str | None:
        """Where the API listens (the real port once started, when port 0 asked the OS to
        choose)."""
        return self.api_server.url if self.api_server else None

    def announce(self) -> None:
        """Tell the operator where to look (tokens only when this process made them up)."""
        if self.api_url is None:
            return
        typer.echo(
            f"minewatch: facility {self.cfg.facility.id} ({self.cfg.facility.name}), "
            f"data in {self.cfg.data_dir}"
        )
        if self.token_values:
            # the operator's link: the page is for watching and acting, not for injecting faults
            typer.echo(f"  live page:  {self.api_url}/login#token={self.token_values['operator']}")
            for role, tok in self.token_values.items():
                typer.echo(f"  {role:<9} token: {tok}")
            typer.echo(
                f"  try:        curl -H 'Authorization: Bearer {self.token_values['operator']}' "
                f"{self.api_url}/api/v1/facility"
            )
        else:
            typer.echo(
                f"  live page:  {self.api_url}/  (log in with a token from "
                f"{self.cfg.api.tokens_env})"
            )
        typer.echo(f"  API docs:   {self.api_url}/api/docs    health: {self.api_url}/health")
        cb = self.cfg.notify.central_bank
        typer.echo(
            "  central bank: "
            f"{cb.url if cb.enabled else 'channel disabled (notify.central_bank.enabled)'}"
        )
        for note in self.notes:
            typer.echo(note)
        typer.echo("  Ctrl-C stops everything.")


class FirstTelemetry:
    """A start gate: returns from ``start()`` once every ``expected`` device (the registry and
    the polled Modbus equipment; any device when there are none) has sent telemetry, or after
    ``timeout_s``.

    Placed before the analyzer in the demo, whose store starts empty, so that the first
    evaluation and the page's first screen see the whole facility (the analyzer itself never
    judges a device missing before it has watched the rule's window).
    """

    def __init__(self, store: TelemetryStore, expected: set[str], timeout_s: float = 20.0) -> None:
        self.store = store
        self.expected = expected
        self.timeout_s = timeout_s
        self.waited_s = 0.0
        self.seen = 0

    def _ready(self) -> bool:
        devices = self.store.devices()
        seen = set(devices.loc[devices["last_seen"].notna(), "device"])
        self.seen = len(seen & self.expected) if self.expected else len(seen)
        return bool(seen) and self.expected <= seen

    def start(self) -> None:
        t0 = time.monotonic()
        while not self._ready() and time.monotonic() - t0 < self.timeout_s:
            time.sleep(0.2)
        self.waited_s = round(time.monotonic() - t0, 1)

    def stop(self) -> None:
        pass

    def stats(self) -> dict[str, Any]:
        return {"waited_s": self.waited_s, "expected": len(self.expected), "seen": self.seen}


def _snake(name: str) -> str:
    """``MqttCollector`` → ``mqtt_collector`` (how /health names the part)."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


class _LiveParts(Mapping[str, Any]):
    """A read-only view of the supervisor's parts by name (``/health`` sees parts added later)."""

    def __init__(self, supervisor: Supervisor) -> None:
        self._sup = supervisor

    def _parts(self) -> dict[str, Any]:
        return {n: p for n, p in self._sup.parts if n != "api"}

    def __getitem__(self, name: str) -> Any:
        return self._parts()[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._parts())

    def __len__(self) -> int:
        return len(self._parts())


def prepare_demo_dir(path: Path) -> Path:
    """A fresh folder for the demo's data; refuses to wipe one the demo did not create."""
    path = path.resolve()
    if path.exists() and any(path.iterdir()):
        if not (path / DEMO_MARKER).exists():
            raise ConfigError(
                [f"{path}: not empty and not made by `minewatch demo`; choose another --data-dir"]
            )
        shutil.rmtree(path)
    path.mkdir(parents=True, exist_ok=True)
    (path / DEMO_MARKER).write_text("made by `minewatch demo`; wiped at its next start\n")
    return path


def register(app: typer.Typer) -> None:
    """Adds ``demo``, ``run`` and ``serve``."""

    @app.command("serve")
    def serve(
        config: Annotated[Path, typer.Option("--config", "-c", help="facility.yaml")],
        host: Annotated[
            str | None, typer.Option(help="Listen address (default: api.host from the config)")
        ] = None,
        port: Annotated[
            int | None, typer.Option(help="Listen port (default: api.port from the config)")
        ] = None,
    ) -> None:
        """Serve the HTTP API and the live page from the store other processes write.

        This is how the API runs as its own process (docker-compose): the collector and the
        analyzer write the same store and state database from their own processes.
        """
        setup_logging()
        rt = Runtime.from_config(config, writes=False)
        # acks, silences and orders made here reach the ledger (`notify` delivers them)
        rt.add_notifier()
        rt.add_api(host=host, port=port)
        raise typer.Exit(rt.supervisor.run(on_started=rt.announce))

    @app.command("run")
    def run(
        config: Annotated[Path, typer.Option("--config", "-c", help="facility.yaml")],
        port: Annotated[
            int | None, typer.Option(help="API port (default: api.port from the config)")
        ] = None,
    ) -> None:
        """Collector, analyzer, notifier and API in one process (no simulator, no broker)."""
        setup_logging()
        rt = Runtime.from_config(config)
        rt.add_collectors()
        rt.add_analyzer(required=True)
        rt.add_notifier()
        rt.add_api(port=port)
        raise typer.Exit(rt.supervisor.run(on_started=rt.announce))

    @app.command("demo")
    def demo(
        port: Annotated[int, typer.Option(help="API port")] = 8000,
        host: Annotated[str, typer.Option(help="API listen address")] = "127.0.0.1",
        data_dir: Annotated[
            Path, typer.Option(help="Fresh folder for the demo's data (wiped at start)")
        ] = Path("data/demo"),
        fault: Annotated[
            list[str] | None,
            typer.Option(
                help="Inject at start, kind[:target] (repeatable): overheat, fan_fail, "
                "silent (target: a rig serial), unregistered, overload, over_voltage, "
                "phase_imbalance, smoke_alarm, coolant_pump_failure, modbus_silent "
                "(target: a Modbus device), miner_api_hang (target: a rig serial)",
            ),
        ] = None,
        interval_s: Annotated[
            float, typer.Option("--interval", min=0.5, help="Seconds between simulated messages")
        ] = 5.0,
        broker: Annotated[
            str,
            typer.Option(
                help="MQTT broker: auto (Mosquitto if installed, else amqtt), mosquitto or amqtt"
            ),
        ] = "auto",
    ) -> None:
        """A simulated facility end to end: broker, simulator, collector, analyzer, notifier,
        API, page and a central bank (``minewatch hub`` on SQLite) that verifies and stores the
        signed regulator messages."""
        setup_logging()
        if broker not in ("auto", "mosquitto", "amqtt"):
            raise typer.BadParameter(
                f"expected auto, mosquitto or amqtt, got {broker!r}", param_hint="--broker"
            )
        cfg = load_facility(demo_config())
        data = prepare_demo_dir(data_dir)
        bank = SimCentralBank(data / "central-bank", data / "keys", cfg)
        notify = cfg.notify.model_copy(
            update={"central_bank": bank.settings(cfg.notify.central_bank)}
        )
        cfg = cfg.model_copy(
            update={
                "storage": cfg.storage.model_copy(update={"data_dir": str(data)}),
                "notify": notify,
            }
        )
        rt = Runtime(cfg)
        rt.tokens, rt.token_values = TokenTable.generate()
        # listening before the notifier sends its first message
        rt.supervisor.add("central_bank", bank)
        rt.use_broker(data / "broker", None if broker == "auto" else broker)
        rt.simulate(fault or [], interval_s)
        rt.supervisor.add("first_telemetry", FirstTelemetry(rt.store, rt.expected_devices()))
        rt.add_analyzer(required=False)
        rt.add_notifier()
        rt.add_api(host=host, port=port)
        rt.notes.append(
            f"  (the demo's central bank is minewatch hub, key {bank.key_id} bound to the "
            f"facility; its page {bank.server.url}/ and a GET on its URL list what it stored)"
        )
        rt.notes.append(f"  bank      token: {bank.token}")
        raise typer.Exit(rt.supervisor.run(on_started=rt.announce))
