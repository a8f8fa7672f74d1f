"""``PollingCollector``: every Modbus device and miner API on its own schedule, samples batched
into ``store.write`` (run with ``asyncio.to_thread`` so a slow store never blocks polling),
optional periodic discovery against the registry.

Two event loops, each in its own thread: one for the Modbus devices, one for the miners,
discovery and the writer. Thousands of miner connections then never add loop latency to the
meters' 1-second polls (on a serial gateway each request waits for the previous one, so latency
multiplies).
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable

from minewatch.collector.discovery import as_samples, compare, hosts_of, miner_registry, scan
from minewatch.collector.minerapi.miner import DEGRADED, UP, MinerPoller
from minewatch.collector.minerapi.raw import RawKeeper
from minewatch.collector.modbus.device import ModbusDevice
from minewatch.collector.modbus.link import ModbusLink
from minewatch.collector.polling.loops import Job, LoopThread
from minewatch.collector.polling.schedule import run_every
from minewatch.config.facility import FacilityConfig
from minewatch.configfile import ConfigError
from minewatch.counters import Counters
from minewatch.profiles import DeviceProfile
from minewatch.profiles.fit import polling_problems
from minewatch.registry import RegistryEntry, load_registry
from minewatch.sample import DeviceMeta, Sample, now_ns
from minewatch.store import StoreUnavailable, TelemetryStore

log = logging.getLogger(__name__)

#: Samples held while the store is unavailable before new ones are shed (about a minute at full
#: load).
BUFFER_MAX_SAMPLES = 500_000


class PollingCollector:
    """Polls what ``cfg.polling`` lists; ``start()`` returns at once, ``stop()`` joins and
    flushes."""

    def __init__(
        self,
        cfg: FacilityConfig,
        store: TelemetryStore,
        profiles: dict[str, DeviceProfile],
        *,
        registry: dict[str, RegistryEntry] | None = None,
    ) -> None:
        self.cfg = cfg
        self.settings = cfg.polling
        self.store = store
        self.profiles = profiles
        self.counters = Counters()
        self.raw = RawKeeper(cfg.data_dir / "miner_raw")
        if registry is None and cfg.registry:
            registry = load_registry(cfg.path(cfg.registry), set(profiles))
        self.registry = registry or {}
        problems = polling_problems(cfg, profiles)
        if problems:
            raise ConfigError(problems)
        self.links: dict[tuple, ModbusLink] = {}
        self.modbus: list[ModbusDevice] = []
        for t in self.settings.modbus:
            link = self.links.setdefault(t.connection_key(), ModbusLink(t))
            self.modbus.append(ModbusDevice(t, profiles[t.profile], link, self.counters))
        self.miners = [
            MinerPoller(m, profiles, self.counters, self.raw) for m in self.settings.miners
        ]
        self.last_discovery: dict | None = None
        #: Samples and device metadata waiting for the writer; any loop appends, the writer swaps
        #: out.
        self._lock = threading.Lock()
        self._buffer: list[Sample] = []
        self._metas: list[DeviceMeta] = [
            DeviceMeta(
                d.name,
                d.profile.kind.value,
                d.profile.id,
                d.target.zone,
                d.target.rack,
                d.target.role,
            )
            for d in self.modbus
        ]
        self._modbus_loop = LoopThread("minewatch-polling-modbus")
        self._main_loop = LoopThread("minewatch-polling")
        self._running = False

    # -- lifecycle -------------------------------------------------------------------------
    def start(self) -> None:
        if self._running:
            return
        self._running = True
        # pymodbus logs every failed request with a debug dump; the poller logs a device's failure
        # once when it starts and once when it ends, so keep the library quiet unless configured.
        pmlog = logging.getLogger("pymodbus")
        if pmlog.level == logging.NOTSET:
            pmlog.setLevel(logging.CRITICAL)
        jitter = self.settings.jitter
        if self.modbus:
            self._modbus_loop.start(
                [self._modbus_job(d, jitter) for d in self.modbus], finish=self._close_links
            )
        sem_holder: list[asyncio.Semaphore] = []

        def sem() -> asyncio.Semaphore:  # created inside the miner loop, on first use
            if not sem_holder:
                sem_holder.append(asyncio.Semaphore(self.settings.miner_concurrency))
            return sem_holder[0]

        jobs: list[Job] = [self._writer]
        jobs += [self._miner_job(m, jitter, sem) for m in self.miners]
        disc = self.settings.discovery
        if disc.enabled and disc.subnets:
            jobs.append(
                lambda: run_every(
                    "discovery", disc.period_s, 0.0, self.discover_once, self.counters, "discovery"
                )
            )
        self._main_loop.start(jobs, finish=self._flush)

    def _modbus_job(self, d: ModbusDevice, jitter: float) -> Job:
        return lambda: run_every(
            d.name,
            d.target.interval_s,
            jitter,
            lambda: self._poll_modbus(d),
            self.counters,
            "modbus",
        )

    def _miner_job(
        self, m: MinerPoller, jitter: float, sem: Callable[[], asyncio.Semaphore]
    ) -> Job:
        return lambda: run_every(
            f"{m.target.host}:{m.port}",
            m.target.interval_s,
            jitter,
            lambda: self._poll_miner(m, sem()),
            self.counters,
            "miner",
        )

    def stop(self) -> None:
        """Stop polling, then write what is buffered (the Modbus loop stops first so nothing is
        lost)."""
        if not self._running:
            return
        self._modbus_loop.stop()
        self._main_loop.stop()
        self._running = False

    def stats(self) -> dict:
        snap = self.counters.snapshot()
        snap["modbus_devices"] = len(self.modbus)
        snap["modbus_devices_up"] = sum(1 for d in self.modbus if d.up)
        snap["miners"] = len(self.miners)
        snap["miners_up"] = sum(1 for m in self.miners if m.state == UP)
        snap["miners_degraded"] = sum(1 for m in self.miners if m.state == DEGRADED)
        snap["raw_replies_kept"] = len(self.raw.recent())
        with self._lock:
            snap["buffered_samples"] = len(self._buffer)
        if self.last_discovery is not None:
            snap["discovery"] = {k: len(v) for k, v in self.last_discovery.items()}
        return snap

    async def _close_links(self) -> None:
        for link in self.links.values():
            link.close()

    async def _poll_modbus(self, dev: ModbusDevice) -> None:
        result = await dev.poll(now_ns())
        self.counters.inc("samples_total", len(result.samples), reason="modbus")
        if result.bad_metrics:
            self.counters.inc("bad_metrics_total", len(result.bad_metrics), reason="modbus")
        self._put(result.samples)

    async def _poll_miner(self, miner: MinerPoller, sem: asyncio.Semaphore) -> None:
        async with sem:
            samples = await miner.poll(now_ns())
        if miner.new_meta is not None:
            meta, miner.new_meta = miner.new_meta, None
            reg = self.registry.get(meta.device)
            if reg is not None and not (meta.zone or meta.rack):
                meta = DeviceMeta(meta.device, meta.kind, meta.model, reg.zone, reg.rack, meta.role)
            with self._lock:
                self._metas.append(
                    meta
                )  # upserted by the writer with the next batch: one call, not thousands
        self.counters.inc("samples_total", len(samples), reason="miner")
        self._put(samples)

    async def discover_once(self) -> None:
        """Scan the configured subnets, compare with the registry, store the outcome as samples."""
        d = self.settings.discovery
        started = time.monotonic()
        try:
            hosts = hosts_of(d.subnets, d.max_hosts)
        except ValueError as exc:
            log.error("discovery: %s", exc)
            return
        found = await scan(
            hosts,
            self.profiles,
            miner_ports=d.miner_ports,
            timeout_s=d.timeout_s,
            concurrency=d.concurrency,
            modbus=d.modbus,
            modbus_port=d.modbus_port,
            counters=self.counters,
        )
        known = {f"{m.target.host}:{m.port}": m.device for m in self.miners if m.device}
        answering = {m.device for m in self.miners if m.up and m.device}
        result = compare(found, miner_registry(self.registry, self.profiles), known, answering)
        self.last_discovery = vars(result)
        samples, metas = as_samples(result, now_ns())
        known_devices = set(await asyncio.to_thread(lambda: set(self.store.devices()["device"])))
        await self._upsert([m for m in metas if m.device not in known_devices])
        self._put(samples)
        if result.unregistered:
            log.warning(
                "discovery: %d miner(s) not in the registry: %s",
                len(result.unregistered),
                ", ".join(f"{r['serial']} at {r['host']}:{r['port']}" for r in result.unregistered),
            )
        log.info(
            "discovery: %d host(s) in %.1f s: %d registered seen, %d missing, %d unregistered, "
            "%d unidentified",
            len(hosts),
            time.monotonic() - started,
            len(result.registered_seen),
            len(result.registered_missing),
            len(result.unregistered),
            len(result.unidentified),
        )

    # -- writing ---------------------------------------------------------------------------
    def _put(self, samples: list[Sample]) -> None:
        if not samples:
            return
        with self._lock:
            if len(self._buffer) + len(samples) <= BUFFER_MAX_SAMPLES:
                self._buffer.extend(samples)
                return
        # the store is far behind: shed new samples, and say so
        self.counters.inc("dropped_samples_total", len(samples), reason="write_buffer_full")

    async def _upsert(self, metas: list[DeviceMeta]) -> None:
        if not metas:
            return
        try:
            await asyncio.to_thread(self.store.upsert_devices, metas)
        except StoreUnavailable as exc:
            log.error("could not record device metadata: %s", exc)

    async def _writer(self) -> None:
        """Every write_wait_ms, write what the polls buffered (in batches of write_batch_max) off
        the loop thread. A store outage is retried with backoff while the polls keep buffering.
        """
        while True:
            await asyncio.sleep(self.settings.write_wait_ms / 1000)
            await self._flush()

    async def _flush(self) -> None:
        with self._lock:
            pending, self._buffer = self._buffer, []
            metas, self._metas = self._metas, []
        await self._upsert(metas)
        batch_max = self.settings.write_batch_max
        for i in range(0, len(pending), batch_max):
            await self._write(pending[i : i + batch_max])

    async def _write(self, batch: list[Sample]) -> None:
        delay = 0.5
        while True:
            try:
                await asyncio.to_thread(self.store.write, batch)
                self.counters.inc("written_total", len(batch))
                return
            except StoreUnavailable as exc:
                self.counters.inc("store_errors_total", reason="unavailable")
                log.warning("store unavailable (%s); retrying in %.1f s", exc, delay)
                if self._main_loop.stopping and delay > 4:
                    self.counters.inc(
                        "dropped_samples_total", len(batch), reason="store_unavailable_at_stop"
                    )
                    return
                await asyncio.sleep(delay)
                delay = min(delay * 2, 30)
