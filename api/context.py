"""What the API serves from: config, store, alert state, event bus, and the parts running beside it.

Everything but config, store and tokens is optional so the API runs as ``minewatch serve`` against a
shared store, inside ``minewatch run``/``demo`` with every part, or in tests with only a store.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from minewatch.analyzer.state import AlertStore
from minewatch.api.auth import TokenTable
from minewatch.api.security import FailedLogins
from minewatch.config import FacilityConfig
from minewatch.events import EventBus
from minewatch.ledger import Ledger
from minewatch.profiles import DeviceProfile
from minewatch.sample import now_ns
from minewatch.store import TelemetryStore


class HasStats(Protocol):
    def stats(self) -> dict[str, Any]: ...


class FaultTarget(Protocol):
    """The simulator's fault injection (``minewatch.simulator.facility.SimFacility``), present in
    the demo only."""

    def inject(self, fault: str, target: str | None = None) -> str | None: ...
    def clear(self, fault: str, target: str | None = None) -> None: ...
    def active_faults(self) -> list[dict[str, str | None]]: ...


@dataclass
class ApiContext:
    cfg: FacilityConfig
    store: TelemetryStore
    tokens: TokenTable
    alert_store: AlertStore | None = None
    bus: EventBus | None = None
    profiles: Mapping[str, DeviceProfile] = field(default_factory=dict)
    #: Parts running in this process, by name; ``/health`` reports their ``stats()``.
    components: Mapping[str, HasStats] = field(default_factory=dict)
    faults: FaultTarget | None = None
    clock: Callable[[], int] = now_ns
    #: A device with no sample for this long is shown offline (the analyzer's staleness rule
    #: alerts).
    offline_after_s: float = 60.0
    #: Seconds between two live snapshots pushed to the page.
    live_interval_s: float = 2.0
    #: The device table (30,000 rows at a 100 MW site) is reread at most this often.
    device_table_ttl_s: float = 1.0
    #: The facility summary (``/api/v1/facility``, the live page's headline) is shared between
    #: requests for at most this long (``minewatch.api.summary``).
    summary_ttl_s: float = 1.0
    #: Failed logins per client address (shared by the bearer header, the cookie and /login).
    failed_logins: FailedLogins = field(default_factory=FailedLogins)
    #: Report builds allowed at once (a year of a large site is minutes of CPU each).
    report_builds: int = 2
    #: Reads shared between requests (see ``minewatch.api.facility.DeviceTable.load``).
    cache: dict[str, Any] = field(default_factory=dict)

    def ledger(self) -> Ledger:
        """The facility's audit ledger, opened once and shared by every route that reads or
        appends to it."""
        if "ledger" not in self.cache:
            self.cache["ledger"] = Ledger(self.cfg.state_db)
        ledger: Ledger = self.cache["ledger"]
        return ledger
