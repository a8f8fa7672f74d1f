"""TLS and password authentication against a real Mosquitto that requires both."""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from pathlib import Path

import orjson
import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from minewatch.collector.mqtt import MqttCollector
from minewatch.config import load_facility
from minewatch.errors import ConfigError
from minewatch.profiles import load_facility_profiles
from minewatch.registry import facility_registry
from minewatch.sample import now_ns
from minewatch.store import SqliteStore
from tests.support.mosquitto import Broker
from tests.support.mqtt import (
    RIG_TOPIC,
    S21_METRICS,
    S21_SERIALS,
    facility_file,
    s21_payload,
    wait_for,
)
from tests.support.mqtt_secure import start_secure_mosquitto

SECRET = "s3cr3t-pw"


@pytest.fixture
def secure_broker(tmp_path: Path) -> Iterator[tuple[Broker, Path]]:
    broker, ca = start_secure_mosquitto(tmp_path / "broker", "collector", SECRET)
    yield broker, ca
    broker.stop()


def collector(tmp_path: Path, broker: Broker, ca: Path, **auth: str | None) -> MqttCollector:
    """A collector over TLS; by default with the password from the environment, else ``auth``."""
    auth = auth or {"username": "collector", "password_env": "TEST_MQTT_PASSWORD"}
    cfg = load_facility(facility_file(tmp_path, broker.port, tls=True, ca_file=str(ca), **auth))
    profiles = load_facility_profiles(cfg)
    return MqttCollector(
        cfg, SqliteStore(tmp_path / "t.db"), profiles, facility_registry(cfg, set(profiles))
    )


def publish_tls(broker: Broker, ca: Path, n: int) -> None:
    c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="secure-pub")
    c.tls_set(ca_certs=str(ca), cert_reqs=ssl.CERT_REQUIRED)
    c.username_pw_set("collector", SECRET)
    c.connect("127.0.0.1", broker.port)
    c.loop_start()
    infos = [
        c.publish(RIG_TOPIC.format(s), orjson.dumps(s21_payload(s, now_ns() - i * 10**9)), qos=1)
        for i in range(n)
        for s in S21_SERIALS[:2]
    ]
    for info in infos:
        info.wait_for_publish(10)
    c.disconnect()
    c.loop_stop()


def test_tls_and_password_from_the_environment(
    tmp_path: Path, secure_broker: tuple[Broker, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    broker, ca = secure_broker
    monkeypatch.setenv("TEST_MQTT_PASSWORD", SECRET)
    col = collector(tmp_path, broker, ca)
    col.start()
    assert col.wait_ready(10)
    publish_tls(broker, ca, 5)
    wait_for(lambda: col.stats()["acked"] == 10, what="messages over TLS")
    col.stop()
    assert col.stats()["stored_samples"] == 10 * S21_METRICS


def test_wrong_password_is_refused_and_counted(
    tmp_path: Path,
    secure_broker: tuple[Broker, Path],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    broker, ca = secure_broker
    monkeypatch.setenv("TEST_MQTT_PASSWORD", "wrong")
    col = collector(tmp_path, broker, ca)
    col.start()
    wait_for(lambda: col.stats().get("connect_failures", 0) >= 1, what="refused connection counted")
    col.stop()
    assert not col.stats()["connected"]
    assert "refused the connection" in caplog.text and "wrong" not in caplog.text


def test_missing_password_variable_stops_start(
    tmp_path: Path, secure_broker: tuple[Broker, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    broker, ca = secure_broker
    monkeypatch.delenv("TEST_MQTT_PASSWORD", raising=False)
    with pytest.raises(ConfigError, match="environment variable TEST_MQTT_PASSWORD is not set"):
        collector(tmp_path, broker, ca).start()


def test_client_certificate_instead_of_a_password(tmp_path: Path) -> None:
    """A broker that requires client certificates: with cert_file/key_file the collector gets in and
    stores; without them the TLS handshake is refused and counted, nothing stored."""
    broker, ca = start_secure_mosquitto(
        tmp_path / "broker", "collector", SECRET, client_certificates=True
    )
    tls = tmp_path / "broker" / "tls"
    certs = {"cert_file": str(tls / "client.pem"), "key_file": str(tls / "client.key")}
    try:
        col = collector(tmp_path, broker, ca, **certs)
        col.start()
        assert col.wait_ready(10)
        pub = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="cert-pub")
        pub.tls_set(
            ca_certs=str(ca), certfile=str(tls / "client.pem"), keyfile=str(tls / "client.key")
        )
        pub.connect("127.0.0.1", broker.port)
        pub.loop_start()
        infos = [
            pub.publish(RIG_TOPIC.format(s), orjson.dumps(s21_payload(s, now_ns())), qos=1)
            for s in S21_SERIALS[:3]
        ]
        for info in infos:
            info.wait_for_publish(10)
        pub.disconnect()
        pub.loop_stop()
        wait_for(lambda: col.stats()["acked"] == 3, what="messages over TLS with certificates")
        col.stop()
        assert col.stats()["stored_samples"] == 3 * S21_METRICS

        bare = collector(tmp_path / "bare", broker, ca, cert_file=None, key_file=None)
        bare.start()
        assert not bare.wait_ready(3)
        bare.stop()
        assert bare.stats()["stored_samples"] == 0 and not bare.stats()["connected"]
    finally:
        broker.stop()
