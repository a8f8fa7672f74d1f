"""Heartbeats that prove liveness, judged by the hub against the regulator's terms: a stopped
analyzer, a changed compliance profile and a self-declared interval of 1e9 s are all visible at the
bank."""

from __future__ import annotations

import time
from pathlib import Path

from minewatch.analyzer.alert_records import CYCLE_CURSOR, AlertRecords
from minewatch.events import EventBus
from minewatch.hub import status
from minewatch.hub.register import NS
from tests.support.notify import running, wait_until
from tests.support.notify_hub import FACILITY, HubServer, hub_notifier, wait_kinds


def _heartbeat_once(tmp_path: Path, hub: HubServer, key_dir: Path, **central: object) -> None:
    with running(hub_notifier(tmp_path, hub.url, key_dir, bus=EventBus(), **central)):
        wait_kinds(hub, "heartbeat")


def test_heartbeat_states_cycle_profile_config_and_the_hub_flags_a_stopped_analyzer(
    tmp_path: Path, hub: HubServer, key_dir: Path
) -> None:
    state_db = tmp_path / "data" / "state.db"
    records = AlertRecords(state_db)
    records.set_cursor(CYCLE_CURSOR, time.time_ns() - 3600 * NS)  # last cycle an hour ago
    records.close()
    _heartbeat_once(tmp_path, hub, key_dir)
    (hb,) = [m for m in hub.timeline()["messages"] if m["kind"] == "heartbeat"]
    beat = hb["summary"]["heartbeat"]
    assert beat["analyzer_last_cycle_at"] is not None
    assert len(beat["config_sha256"]) == 64 and beat["profile_id"] == "tm-2026"
    (stopped,) = hub.findings("analyzer_stopped")
    assert "since" in stopped["detail"]


def test_a_running_analyzer_raises_nothing(tmp_path: Path, hub: HubServer, key_dir: Path) -> None:
    records = AlertRecords(tmp_path / "data" / "state.db")
    records.set_cursor(CYCLE_CURSOR, time.time_ns())
    records.close()
    _heartbeat_once(tmp_path, hub, key_dir)
    assert hub.findings("analyzer_stopped") == []


def test_the_hub_judges_silence_by_the_licence_not_the_declared_interval(
    tmp_path: Path, hub: HubServer, key_dir: Path
) -> None:
    _heartbeat_once(tmp_path, hub, key_dir, heartbeat_interval_s=1e9)
    (terms,) = hub.findings("terms")
    assert "licence requires 60 s" in terms["detail"]
    now = time.time_ns()
    assert not status.facility(hub.hub.db, FACILITY, now)["silent"]
    later = status.facility(hub.hub.db, FACILITY, now + 121 * NS)
    assert later["silent"] and later["status"] == "silent"
    assert status.sweep_silent(hub.hub.db, now + 121 * NS) == 1
    assert hub.findings("silent")


def test_a_profile_edited_between_runs_is_a_regulator_message(
    tmp_path: Path, hub: HubServer, key_dir: Path
) -> None:
    _heartbeat_once(tmp_path, hub, key_dir)
    profile = tmp_path / "my-profile.yaml"
    profile.write_text("id: mine\n")
    n = hub_notifier(tmp_path, hub.url, key_dir, bus=EventBus())
    n.cfg = n.cfg.model_copy(
        update={"analysis": n.cfg.analysis.model_copy(update={"compliance_profile": str(profile)})}
    )
    n.config_watch.cfg = n.cfg
    with running(n):
        got = wait_kinds(hub, "config_changed")
    assert "config_changed" in got
    (change,) = [m for m in hub.timeline()["messages"] if m["kind"] == "config_changed"]
    assert change["summary"]["config"]["profile_id"] == str(profile)
    wait_until(lambda: hub.findings("config_changed"), what="finding")
