"""``PollingCollector``: every Modbus device and miner API on its own schedule, one asyncio loop in a
thread, samples batched into ``store.write`` (run in a worker thread so a slow store never blocks
polling), optional periodic discovery against the registry.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time

from collector.discovery import as_samples, compare, hosts_of, scan
from collector.minerapi.miner import MinerPoller
from collector.minerapi.raw import RawKeeper
from collector.modbus.device import ModbusDevice
from collector.modbus.link import ModbusLink
from collector.polling.schedule import run_every
from minewatch.config.facility import FacilityConfig
from minewatch.counters import Counters
from minewatch.profiles import DeviceProfile
from minewatch.registry import RegistryEntry, load_registry
from minewatch.sample import DeviceMeta, Sample, now_ns
from minewatch.store import StoreUnavailable, TelemetryStore

log = logging.getLogger(__name__)


class PollingCollector:
    """Polls what ``cfg.polling`` lists; ``start()`` returns at once, ``stop()`` joins and flushes."""

    def __init__(self, cfg: FacilityConfig, store: TelemetryStore, profiles: dict[str, DeviceProfile], *,
                 registry: dict[str, RegistryEntry] | None = None) -> None:
        self.cfg = cfg
        self.settings = cfg.polling
        self.store = store
        self.profiles = profiles
        self.counters = Counters()
        self.raw = RawKeeper(cfg.data_dir / "miner_raw")
        if registry is None and cfg.registry:
            registry = load_registry(cfg.path(cfg.registry), set(profiles))
        self.registry = registry or {}
        self.links: dict[tuple, ModbusLink] = {}
        self.modbus: list[ModbusDevice] = []
        for t in self.settings.modbus:
            profile = profiles.get(t.profile)
            if profile is None:
                raise ValueError(f"modbus device {t.name!r}: unknown device profile {t.profile!r}")
            link = self.links.setdefault(t.connection_key(), ModbusLink(t))
            self.modbus.append(ModbusDevice(t, profile, link, self.counters))
        self.miners = [MinerPoller(m, profiles, self.counters, self.raw) for m in self.settings.miners]
        self.last_discovery: dict | None = None
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping: asyncio.Event | None = None
        self._queue: asyncio.Queue[list[Sample]] | None = None
        self._started = threading.Event()

    # -- lifecycle -------------------------------------------------------------------------
    def start(self) -> None:
        if self._thread is not None:
            return
        # pymodbus logs every failed request with a debug dump; the poller logs a device's failure
        # once when it starts and once when it ends, so keep the library quiet unless configured.
        pmlog = logging.getLogger("pymodbus")
        if pmlog.level == logging.NOTSET:
            pmlog.setLevel(logging.CRITICAL)
        self._thread = threading.Thread(target=self._run, name="minewatch-polling", daemon=True)
        self._thread.start()
        self._started.wait(10)

    def stop(self) -> None:
        thread, loop, stopping = self._thread, self._loop, self._stopping
        if thread is None or loop is None or stopping is None:
            return
        if loop.is_running():
            loop.call_soon_threadsafe(stopping.set)
        thread.join(30)
        self._thread = None

    def stats(self) -> dict:
        snap = self.counters.snapshot()
        snap["modbus_devices"] = len(self.modbus)
        snap["modbus_devices_up"] = sum(1 for d in self.modbus if d.up)
        snap["miners"] = len(self.miners)
        snap["miners_up"] = sum(1 for m in self.miners if m.up)
        snap["raw_replies_kept"] = len(self.raw.recent())
        if self.last_discovery is not None:
            snap["discovery"] = {k: len(v) for k, v in self.last_discovery.items()}
        return snap

    # -- loop ------------------------------------------------------------------------------
    def _run(self) -> None:
        self._loop = asyncio.new_event_loop()
        try:
            self._loop.run_until_complete(self._main())
        finally:
            self._loop.close()

    async def _main(self) -> None:
        self._stopping = asyncio.Event()
        self._queue = asyncio.Queue(maxsize=100_000)
        self._started.set()
        await self._upsert([DeviceMeta(d.name, d.profile.kind.value, d.profile.id, d.target.zone, d.target.rack, d.target.role)
                            for d in self.modbus])
        jitter = self.settings.jitter
        sem = asyncio.Semaphore(self.settings.miner_concurrency)
        tasks = [asyncio.create_task(self._writer())]
        for dev in self.modbus:
            tasks.append(asyncio.create_task(run_every(
                dev.name, dev.target.interval_s, jitter, lambda d=dev: self._poll_modbus(d), self._stopping,
                self.counters, "modbus")))
        for m in self.miners:
            tasks.append(asyncio.create_task(run_every(
                f"{m.target.host}:{m.port}", m.target.interval_s, jitter, lambda m=m: self._poll_miner(m, sem),
                self._stopping, self.counters, "miner")))
        disc = self.settings.discovery
        if disc.enabled and disc.subnets:
            tasks.append(asyncio.create_task(run_every(
                "discovery", disc.period_s, 0.0, self.discover_once, self._stopping, self.counters, "discovery")))
        await self._stopping.wait()
        for t in tasks[1:]:
            t.cancel()
        await asyncio.gather(*tasks[1:], return_exceptions=True)
        await self._queue.put([])  # wake the writer so it flushes and exits
        await tasks[0]
        for link in self.links.values():
            link.close()

    async def _poll_modbus(self, dev: ModbusDevice) -> None:
        result = await dev.poll(now_ns())
        self.counters.inc("samples_total", len(result.samples), reason="modbus")
        if result.bad_metrics:
            self.counters.inc("bad_metrics_total", len(result.bad_metrics), reason="modbus")
        await self._put(result.samples)

    async def _poll_miner(self, miner: MinerPoller, sem: asyncio.Semaphore) -> None:
        async with sem:
            samples = await miner.poll(now_ns())
        if miner.new_meta is not None:
            meta, miner.new_meta = miner.new_meta, None
            reg = self.registry.get(meta.device)
            if reg is not None and not (meta.zone or meta.rack):
                meta = DeviceMeta(meta.device, meta.kind, meta.model, reg.zone, reg.rack, meta.role)
            await self._upsert([meta])
        self.counters.inc("samples_total", len(samples), reason="miner")
        await self._put(samples)

    async def discover_once(self) -> None:
        """Scan the configured subnets, compare with the registry, store the outcome as samples."""
        d = self.settings.discovery
        started = time.monotonic()
        try:
            hosts = hosts_of(d.subnets, d.max_hosts)
        except ValueError as exc:
            log.error("discovery: %s", exc)
            return
        found = await scan(hosts, self.profiles, miner_ports=d.miner_ports, timeout_s=d.timeout_s,
                           concurrency=d.concurrency, modbus=d.modbus, modbus_port=d.modbus_port, counters=self.counters)
        known = {f"{m.target.host}:{m.port}": m.device for m in self.miners if m.device}
        result = compare(found, self.registry, known)
        self.last_discovery = vars(result)
        samples, metas = as_samples(result, now_ns())
        known_devices = set(await asyncio.to_thread(lambda: set(self.store.devices()["device"])))
        await self._upsert([m for m in metas if m.device not in known_devices])
        await self._put(samples)
        if result.unregistered:
            log.warning("discovery: %d miner(s) not in the registry: %s", len(result.unregistered),
                        ", ".join(f"{r['serial']} at {r['host']}:{r['port']}" for r in result.unregistered))
        log.info("discovery: %d host(s) in %.1f s: %d registered seen, %d missing, %d unregistered, %d unidentified",
                 len(hosts), time.monotonic() - started, len(result.registered_seen), len(result.registered_missing),
                 len(result.unregistered), len(result.unidentified))

    # -- writing ---------------------------------------------------------------------------
    async def _put(self, samples: list[Sample]) -> None:
        if not samples:
            return
        assert self._queue is not None
        try:
            self._queue.put_nowait(samples)
        except asyncio.QueueFull:
            self.counters.inc("dropped_samples_total", len(samples), reason="write_queue_full")

    async def _upsert(self, metas: list[DeviceMeta]) -> None:
        if not metas:
            return
        try:
            await asyncio.to_thread(self.store.upsert_devices, metas)
        except StoreUnavailable as exc:
            log.error("could not record device metadata: %s", exc)

    async def _writer(self) -> None:
        """Batch samples (up to write_batch_max or write_wait_ms) and write them off the loop thread.
        A store outage is retried with backoff; the polls keep running and queue behind it."""
        assert self._queue is not None and self._stopping is not None
        wait_s = self.settings.write_wait_ms / 1000
        batch_max = self.settings.write_batch_max
        closing = False
        while not closing:
            batch: list[Sample] = []
            first = await self._queue.get()
            closing = not first
            batch.extend(first)
            deadline = time.monotonic() + wait_s
            while len(batch) < batch_max and not closing:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                try:
                    more = await asyncio.wait_for(self._queue.get(), remaining)
                except asyncio.TimeoutError:
                    break
                closing = not more
                batch.extend(more)
            while not closing and self._queue.qsize() and len(batch) < batch_max:
                more = self._queue.get_nowait()
                closing = not more
                batch.extend(more)
            await self._write(batch)

    async def _write(self, batch: list[Sample]) -> None:
        delay = 0.5
        while batch:
            try:
                await asyncio.to_thread(self.store.write, batch)
                self.counters.inc("written_total", len(batch))
                return
            except StoreUnavailable as exc:
                self.counters.inc("store_errors_total", reason="unavailable")
                log.warning("store unavailable (%s); retrying in %.1f s", exc, delay)
                if self._stopping is not None and self._stopping.is_set() and delay > 4:
                    self.counters.inc("dropped_samples_total", len(batch), reason="store_unavailable_at_stop")
                    return
                await asyncio.sleep(delay)
                delay = min(delay * 2, 30)


