"""Polling one miner's API: fetch its commands under one deadline, map the replies to samples.

A miner that hangs costs its own timeout and nothing else: every miner runs as its own task and a
global semaphore bounds how many are in flight. Unparseable replies are kept raw (``RawKeeper``).
"""

from __future__ import annotations

import asyncio
import logging
import re
from dataclasses import dataclass, field
from typing import Any

from minewatch.collector.minerapi.client import ApiUnreachable, query
from minewatch.collector.minerapi.parse import ReplyError, parse_reply, reply_status_error
from minewatch.collector.minerapi.paths import FieldError, extract, resolve
from minewatch.collector.minerapi.raw import RawKeeper
from minewatch.config.polling import MinerTarget
from minewatch.counters import Counters
from minewatch.profiles import DeviceProfile
from minewatch.profiles.minerapi import MinerApiMap
from minewatch.sample import DeviceMeta, Sample

log = logging.getLogger(__name__)

UP, DEGRADED, DOWN = "up", "degraded", "down"
#: ``api_state`` sample values: what the page and reports show for a miner's API.
STATE_VALUES = {DOWN: 0, DEGRADED: 1, UP: 2}


@dataclass
class Identity:
    """What a miner says it is, and the profile that matched."""

    host: str
    port: int
    values: dict[str, str] = field(default_factory=dict)
    profile: str | None = None
    dialect: str | None = None

    @property
    def serial(self) -> str | None:
        return self.values.get("serial") or None


@dataclass
class Fetched:
    """One round of commands: the usable replies, whether any byte came back, and what was not
    usable (command, reason, detail) — the raw bytes of those are in the ``RawKeeper``."""

    replies: dict[str, dict[str, Any]] = field(default_factory=dict)
    answered: bool = False
    problems: list[tuple[str, str, str]] = field(default_factory=list)


async def fetch(
    host: str,
    port: int,
    commands: list[str],
    timeout_s: float,
    device: str,
    raw: RawKeeper | None,
    counters: Counters,
    params: dict[str, dict[str, Any]] | None = None,
    probing: bool = False,
) -> Fetched:
    """Every command's reply, in parallel (multi-command ``a+b`` fails on some firmware) under
    one deadline. A reply that cannot be parsed, or whose ``STATUS`` is ``E``/``F``, is counted
    under ``rejected_total{reason=miner_reply_<why>}`` and its raw bytes kept; the other replies
    stand. ``params`` adds request parameters per command (``stats``: ``new_api``). When
    ``probing`` (identification asks every firmware's identity commands), a refusal only means
    "not this firmware": it is left out, not counted."""
    params = params or {}
    results = await asyncio.gather(
        *(query(host, port, c, timeout_s, params.get(c)) for c in commands),
        return_exceptions=True,
    )
    out = Fetched()
    for command, res in zip(commands, results, strict=True):
        if isinstance(res, ApiUnreachable):
            counters.inc("miner_errors_total", reason=res.reason)
            continue
        if isinstance(res, BaseException):
            raise res
        if not res.strip(b"\x00 \r\n"):
            # closed without a word: not answering
            counters.inc("miner_errors_total", reason="empty_reply")
            continue
        out.answered = True
        try:
            doc = parse_reply(res)
            refused = reply_status_error(doc)
            if refused is not None and probing:
                continue
            if refused is not None:
                raise ReplyError("status_error", refused)
        except ReplyError as exc:
            counters.inc("rejected_total", reason=f"miner_reply_{exc.reason}")
            out.problems.append((command, exc.reason, str(exc)))
            if raw is not None:
                raw.add(device, command, exc.reason, res)
            continue
        out.replies[command] = doc
    return out


def identify(
    host: str, port: int, replies: dict[str, dict[str, Any]], profiles: dict[str, DeviceProfile]
) -> Identity:
    """Match replies against every profile's identity paths and ``match`` patterns. When several
    match, the one matching on more keys wins (``firmware`` telling LuxOS from stock on the same
    model), then an exact model profile over a generic family one, then a rated model (a model
    table row) over its bare family, then the first id."""
    best = Identity(host, port)
    winner: tuple[tuple[int, bool, bool], Identity] | None = None
    for pid in sorted(profiles):
        api = profiles[pid].miner_api
        if api is None:
            continue
        values: dict[str, str] = {}
        for key, where in api.identity.items():
            found = resolve(replies.get(where.command, {}), where.path)
            if found and found[0] not in (None, ""):
                values[key] = str(found[0])
        if all(re.search(pat, values.get(key, "")) for key, pat in api.match.items()):
            rank = (len(api.match), not api.generic, bool(profiles[pid].rated))
            if winner is None or rank > winner[0]:
                winner = (rank, Identity(host, port, values, pid, api.dialect))
        elif len(values) > len(best.values):
            best = Identity(host, port, values)
    return winner[1] if winner is not None else best


def request_params(api: MinerApiMap) -> dict[str, dict[str, Any]]:
    """Per-command request parameters the profile asks for."""
    return {"stats": {"new_api": True}} if api.new_api else {}


def identity_commands(profiles: dict[str, DeviceProfile]) -> list[str]:
    return sorted(
        {c for p in profiles.values() if p.miner_api for c in p.miner_api.identity_commands()}
    )


class MinerPoller:
    """One configured miner; identifies itself on first contact when profile or serial is not
    given."""

    def __init__(
        self,
        target: MinerTarget,
        profiles: dict[str, DeviceProfile],
        counters: Counters,
        raw: RawKeeper | None,
    ) -> None:
        self.target = target
        self.profiles = profiles
        self.counters = counters
        self.raw = raw
        self.profile: DeviceProfile | None = (
            profiles.get(target.profile) if target.profile else None
        )
        if target.profile and (self.profile is None or self.profile.miner_api is None):
            raise ValueError(
                f"miner {target.host}: profile {target.profile!r} is unknown or has no "
                "miner_api: section"
            )
        self.port = target.port or (self.profile.miner_api.port if self.profile else 4028)  # type: ignore[union-attr]
        self.device: str | None = target.serial
        #: UP, DEGRADED (answering, some replies unusable) or DOWN; None before the first poll.
        self.state: str | None = None
        #: Metadata to upsert once the device id and profile are known (now, or after
        #: identification).
        self.new_meta: DeviceMeta | None = self._meta() if self.profile and self.device else None

    @property
    def label(self) -> str:
        return self.device or f"{self.target.host}:{self.port}"

    async def _identify(self) -> None:
        cmds = identity_commands({self.profile.id: self.profile} if self.profile else self.profiles)
        got = await fetch(
            self.target.host,
            self.port,
            cmds,
            self.target.timeout_s,
            self.label,
            self.raw,
            self.counters,
            probing=True,
        )
        ident = identify(
            self.target.host,
            self.port,
            got.replies,
            {self.profile.id: self.profile} if self.profile else self.profiles,
        )
        if self.profile is None:
            if ident.profile is None:
                raise ApiUnreachable(
                    "unidentified", f"no profile matches {ident.values or 'its replies'}"
                )
            self.profile = self.profiles[ident.profile]
        self.device = self.device or ident.serial or f"{self.target.host}:{self.port}"
        self.new_meta = self._meta()

    def _meta(self) -> DeviceMeta:
        assert self.profile is not None and self.device is not None  # known before any meta
        t = self.target
        return DeviceMeta(
            self.device, self.profile.kind.value, self.profile.id, t.zone, t.rack, "rig"
        )

    def _api(self) -> MinerApiMap:
        """The profile's API map; the constructor and identification guarantee there is one."""
        assert self.profile is not None and self.profile.miner_api is not None
        return self.profile.miner_api

    async def poll(self, ts: int) -> list[Sample]:
        """Samples of one poll: ``up`` and ``api_state`` once the device id is known, and every
        metric its usable replies hold — a refused or broken command never hides the others."""
        try:
            if self.profile is None or self.device is None:
                await asyncio.wait_for(self._identify(), self.target.timeout_s)
            api = self._api()
            got = await asyncio.wait_for(
                fetch(
                    self.target.host,
                    self.port,
                    api.commands,
                    self.target.timeout_s,
                    self.label,
                    self.raw,
                    self.counters,
                    request_params(api),
                ),
                self.target.timeout_s,
            )
        except (TimeoutError, ApiUnreachable) as exc:
            reason = getattr(exc, "reason", "timeout")
            self.counters.inc("miner_errors_total", reason=reason)
            self._set_state(DOWN, str(exc) or "timeout")
            return self._state_samples(ts)
        if not got.answered:
            self._set_state(DOWN, "no command answered")
        elif got.problems:
            self._set_state(DEGRADED, "; ".join(f"{c}: {why}" for c, _, why in got.problems))
        else:
            self._set_state(UP, "")
        samples = self._state_samples(ts)
        for metric, fld in api.fields.items():
            reply = got.replies.get(fld.command)
            if reply is None:
                continue
            faults: list[str] = []
            try:
                value = extract(fld, reply, faults)
            except FieldError as exc:
                self.counters.inc("rejected_total", reason=f"miner_field_{exc.reason}")
                continue
            if faults:
                self.counters.inc("rejected_total", len(faults), reason="miner_field_out_of_range")
            if value is not None:
                samples.append(Sample(ts, self.device, metric, value))  # type: ignore[arg-type]
        return samples

    @property
    def up(self) -> bool | None:
        """Answering at all (degraded counts): None before the first poll."""
        return None if self.state is None else self.state != DOWN

    def _state_samples(self, ts: int) -> list[Sample]:
        if not self.device:
            return []
        return [
            Sample(ts, self.device, "up", 1.0 if self.state == UP else 0.0),
            Sample(ts, self.device, "api_state", float(STATE_VALUES[self.state or DOWN])),
        ]

    def _set_state(self, state: str, why: str) -> None:
        """One log line per change of state, never one per poll."""
        if state == self.state:
            return
        where = f"miner {self.label} ({self.target.host}:{self.port})"
        if state == DOWN:
            log.warning("%s is not answering: %s", where, why)
        elif state == DEGRADED:
            log.warning("%s answers but is unreadable (degraded): %s", where, why)
        elif self.state is not None:
            log.warning("%s answers and reads again", where)
        self.state = state
