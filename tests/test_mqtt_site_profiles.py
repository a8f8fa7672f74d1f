"""MQTT profiles for what edge gateways publish besides the rigs: the revenue meter, sub-meters and
the fire panel (issue #11), decoded by the collector's own decoder."""

from __future__ import annotations

import orjson

from minewatch.collector.decode import PayloadDecoder
from minewatch.config.mqtt import DeviceGroup
from minewatch.profiles import load_profiles
from minewatch.sample import NS_PER_S

NOW = 1_767_225_660 * NS_PER_S
PROFILES = load_profiles()
GROUPS = [
    DeviceGroup(
        name="meter",
        topic="site/meters/{device}",
        profile="revenue-meter-mqtt",
        role="revenue_meter",
        expected_interval_s=10,
    ),
    DeviceGroup(
        name="feeds", topic="site/feeds/{device}", profile="sub-meter-mqtt", role="rack_pdu"
    ),
    DeviceGroup(
        name="fire", topic="site/fire/{device}", profile="fire-panel-mqtt", role="fire_panel"
    ),
]


def _decode(topic: str, payload: dict) -> dict[str, float]:
    dec = PayloadDecoder(GROUPS, PROFILES, {})
    d = dec.decode(topic, orjson.dumps(payload), NOW)
    assert d.samples, d
    assert all(s.ts == 1_767_225_600 * NS_PER_S for s in d.samples)  # the gateway's poll time
    return {s.metric: s.value for s in d.samples}


def test_revenue_meter_over_mqtt() -> None:
    got = _decode(
        "site/meters/meter-1",
        {
            "ts": 1_767_225_600,
            "power_w": 412000,
            "energy_kwh": 1234567.8,
            "frequency_hz": 50.01,
            "power_factor": 0.97,
            "tamper": False,
            "voltage": {"l1": 229.8, "l2": 230.4, "l3": 230.1},
            "current": {"l1": 598, "l2": 601, "l3": 597},
        },
    )
    assert got["power_w"] == 412000 and got["voltage_v_l3"] == 230.1
    assert got["meter_tamper_bool"] == 0.0 and got["current_a_l2"] == 601


def test_sub_meter_and_fire_panel_over_mqtt() -> None:
    feed = _decode("site/feeds/pdu-cooling", {"ts": 1_767_225_600, "power_w": 81000})
    assert feed == {"power_w": 81000.0}
    fire = _decode(
        "site/fire/fire-panel",
        {"ts": 1_767_225_600, "fire_alarm": True, "smoke": False, "fault": 0, "epo": False},
    )
    assert fire["fire_alarm_bool"] == 1.0 and fire["smoke_bool"] == 0.0
    assert fire["fire_fault_bool"] == 0.0 and fire["epo_bool"] == 0.0
