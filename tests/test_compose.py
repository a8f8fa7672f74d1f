"""docker-compose.yml and its files, checked without a Docker engine (there is none here): services,
profiles, volumes, env references, every referenced file, the minewatch config the services load,
and the Grafana dashboard's InfluxQL run against a real InfluxDB holding data minewatch wrote."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from minewatch.config import load_facility
from minewatch.profiles.schema import DeviceKind
from minewatch.sample import NS_PER_S, DeviceMeta, Sample, now_ns
from minewatch.store.alerts import ALERTS_MEASUREMENT
from minewatch.store.influx import InfluxStore
from minewatch.store.lineproto import TAG_KEYS
from minewatch.units import is_valid_metric_name
from tests.support.influx import Server, influxql

ROOT = Path(__file__).resolve().parents[1]
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVICES = COMPOSE["services"]
MINEWATCH_SERVICES = {
    "collector": "collect",
    "analyzer": "analyze",
    "notifier": "notify",
    "api": "serve",
    "simulator": "simulate",
}
#: Dockerfile: WORKDIR /opt/minewatch, COPY . . — paths there are this repository's files.
IMAGE_SOURCE = Path("/opt/minewatch")
CONFIG_IN_CONTAINER = "/etc/minewatch/facility.yaml"
DASHBOARD = json.loads((ROOT / "deploy/grafana/dashboards/minewatch.json").read_text())
DATASOURCE = yaml.safe_load(
    (ROOT / "deploy/grafana/provisioning/datasources/influxdb.yaml").read_text()
)
ENV_EXAMPLE = dict(
    line.split("=", 1)
    for line in (ROOT / "deploy/.env.example").read_text().splitlines()
    if line and not line.startswith("#")
)


def _env_refs(node: object) -> set[str]:
    text = yaml.safe_dump(node)
    return set(re.findall(r"\$\{([A-Z0-9_]+)", text))


def _bind_mounts(service: dict) -> list[tuple[str, str]]:
    return [
        tuple(v.split(":")[:2]) for v in service.get("volumes", []) if v.startswith(("./", "/"))
    ]


def _mounted_config() -> Path:
    """The host file behind /etc/minewatch/facility.yaml in the minewatch services."""
    for src, dst in _bind_mounts(SERVICES["collector"]):
        if CONFIG_IN_CONTAINER.startswith(dst.rstrip("/") + "/"):
            return ROOT / src / Path(CONFIG_IN_CONTAINER).relative_to(dst)
    raise AssertionError("facility.yaml is not mounted into the collector")


def test_services_and_profiles() -> None:
    assert set(SERVICES) == {"mosquitto", "influxdb", "grafana", *MINEWATCH_SERVICES}
    assert SERVICES["simulator"]["profiles"] == ["demo"]
    assert all("profiles" not in s for name, s in SERVICES.items() if name != "simulator")
    assert SERVICES["influxdb"]["image"].startswith("influxdb:2.7")


def test_minewatch_services_share_one_image_and_run_their_command() -> None:
    for name, verb in MINEWATCH_SERVICES.items():
        svc = SERVICES[name]
        assert svc["build"] == "." and svc["image"] == "minewatch:latest"
        assert svc["command"] == [verb, "--config", CONFIG_IN_CONTAINER], name
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert 'ENTRYPOINT ["minewatch"]' in dockerfile
    assert f"WORKDIR {IMAGE_SOURCE}" in dockerfile and "COPY . ." in dockerfile


def test_every_referenced_file_and_volume_exists() -> None:
    named = set(COMPOSE["volumes"])
    for name, svc in SERVICES.items():
        for v in svc.get("volumes", []):
            src = v.split(":")[0]
            if src.startswith("./"):
                assert (ROOT / src).exists(), f"{name}: {src} does not exist"
            else:
                assert src in named, f"{name}: volume {src} not declared"
        for dep in svc.get("depends_on", {}):
            assert dep in SERVICES, f"{name} depends on unknown service {dep}"
    assert (ROOT / SERVICES["collector"]["build"] / "Dockerfile").exists()


def test_every_env_reference_is_in_the_env_example() -> None:
    assert _env_refs(COMPOSE) <= set(ENV_EXAMPLE)
    assert _env_refs(DATASOURCE) <= set(SERVICES["grafana"]["environment"])


def test_mosquitto_keeps_sessions_across_restarts() -> None:
    ((src, dst),) = [m for m in _bind_mounts(SERVICES["mosquitto"]) if m[0].endswith(".conf")]
    conf = (ROOT / src).read_text()
    assert re.search(r"^persistence true", conf, re.M) and re.search(r"^listener 1883", conf, re.M)
    assert dst == "/mosquitto/config/mosquitto.conf"
    assert any(v.split(":")[1] == "/mosquitto/data" for v in SERVICES["mosquitto"]["volumes"])


def test_the_mounted_facility_config_points_at_the_compose_services() -> None:
    cfg = load_facility(_mounted_config())
    influx = cfg.storage.influxdb
    assert cfg.storage.backend == "influxdb" and influx.api == "v2"
    assert re.fullmatch(r"http://influxdb:8086", influx.url) and cfg.mqtt.host == "mosquitto"
    assert (
        influx.org == ENV_EXAMPLE["INFLUXDB_ORG"]
        and influx.bucket == ENV_EXAMPLE["INFLUXDB_BUCKET"]
    )
    env = SERVICES["collector"]["environment"]
    assert env[influx.token_env] == "${INFLUXDB_TOKEN:?set INFLUXDB_TOKEN in .env}"
    assert (
        SERVICES["influxdb"]["environment"]["DOCKER_INFLUXDB_INIT_ADMIN_TOKEN"]
        == env[influx.token_env]
    )
    assert cfg.api.tokens_env in env
    assert cfg.data_dir == Path("/var/lib/minewatch")
    assert any(v.endswith(":/var/lib/minewatch") for v in SERVICES["collector"]["volumes"])
    registry = cfg.path(cfg.registry)
    if registry.is_relative_to(IMAGE_SOURCE):
        registry = ROOT / registry.relative_to(IMAGE_SOURCE)
    assert registry.exists() and registry.read_text().startswith("serial,model,zone,rack")


def test_grafana_datasource_is_influxql_on_the_dbrp_database() -> None:
    (ds,) = DATASOURCE["datasources"]
    cfg = load_facility(_mounted_config())
    assert ds["type"] == "influxdb" and ds["url"] == "http://influxdb:8086"
    assert ds["jsonData"]["dbName"] == cfg.storage.influxdb.database
    assert ds["jsonData"]["httpHeaderName1"] == "Authorization"
    assert ds["secureJsonData"]["httpHeaderValue1"] == "Token ${INFLUX_TOKEN}"
    uids = {t["datasource"]["uid"] for p in DASHBOARD["panels"] for t in p["targets"]}
    assert uids == {ds["uid"]}


def _queries() -> list[tuple[str, str]]:
    out = [(p["title"], t["query"]) for p in DASHBOARD["panels"] for t in p["targets"]]
    out += [(a["name"], a["query"]) for a in DASHBOARD["annotations"]["list"]]
    return out


def test_dashboard_has_the_four_views_and_queries_only_the_documented_schema() -> None:
    titles = " | ".join(p["title"] for p in DASHBOARD["panels"]).lower()
    for needed in ("power vs licence", "power by zone", "rack temperature", "alerts"):
        assert needed in titles
    assert any(p["type"] == "heatmap" for p in DASHBOARD["panels"])
    measurements = {k.value for k in DeviceKind} | {ALERTS_MEASUREMENT}
    alert_keys = {"state", "value", "threshold", "reason", "rule_id", "subject", "severity"}
    for title, q in _queries():
        assert q.startswith("SELECT ") and "$timeFilter" in q, title
        for m in re.findall(r'FROM "([^"]+)"', q):
            assert m in measurements, f"{title}: unknown measurement {m}"
        for ident in re.findall(r'"([^"]+)"', q):
            assert (
                ident in measurements
                or ident in TAG_KEYS
                or ident in alert_keys
                or is_valid_metric_name(ident)
                or ident in ("facility", "licence", "utilisation")
            ), f"{title}: {ident!r} is neither a documented tag, field nor measurement"


def test_dashboard_queries_run_on_influxdb_against_data_minewatch_wrote(
    influx_store: InfluxStore, influxd_server: Server
) -> None:
    t = now_ns() // NS_PER_S * NS_PER_S - 600 * NS_PER_S
    influx_store.upsert_devices(
        [
            DeviceMeta("meter", "power_meter", "sdm630", "", "", "revenue_meter"),
            DeviceMeta("pdu-a1", "pdu", "apc", "hall-a", "a1", "rack_pdu"),
            DeviceMeta("rig-1", "asic_miner", "antminer-s21", "hall-a", "a1", "rig"),
        ]
    )
    influx_store.write(
        [
            s
            for i in range(10)
            for s in (
                Sample(t + i * 10 * NS_PER_S, "meter", "power_w", 800_000.0),
                Sample(t + i * 10 * NS_PER_S, "pdu-a1", "power_w", 20_000.0),
                Sample(t + i * 10 * NS_PER_S, "rig-1", "chip_temp_c", 70.0 + i),
            )
        ]
    )
    influx_store.write_lines(
        [
            f'{ALERTS_MEASUREMENT},rule_id=r,subject=rig-1,severity=major state="firing",'
            f'reason="hot",value=79.0,threshold=75.0 {t}'
        ]
    )
    for title, q in _queries():
        sql = (
            q.replace("$timeFilter", f"time >= {t - NS_PER_S} AND time <= {t + 600 * NS_PER_S}")
            .replace("$__interval", "60s")
            .replace("$licence_kw", "950")
        )
        results = influxql(influxd_server, sql, influx_store.settings.database)
        assert "error" not in results[0], f"{title}: {results[0].get('error')}"
        assert results[0].get("series"), f"{title}: no data for {sql}"


def test_env_example_completes_the_compose_file_and_docker_compose_accepts_it(
    tmp_path: Path,
) -> None:
    """Always checks the env example makes a complete .env; also runs `docker compose config` when
    the Docker CLI has the compose plugin (it needs no engine)."""
    env = tmp_path / ".env"
    shutil.copy(ROOT / "deploy/.env.example", env)
    missing = _env_refs(COMPOSE) - set(ENV_EXAMPLE)
    assert not missing
    docker = shutil.which("docker")
    has_compose = (
        docker is not None
        and subprocess.run([docker, "compose", "version"], capture_output=True).returncode == 0
    )
    if has_compose:
        r = subprocess.run(
            [
                docker,
                "compose",
                "--env-file",
                str(env),
                "--profile",
                "demo",
                "-f",
                str(ROOT / "docker-compose.yml"),
                "config",
                "--quiet",
            ],
            capture_output=True,
            text=True,
        )
        assert r.returncode == 0, r.stderr


@pytest.mark.parametrize("name", ["collector", "analyzer", "api"])
def test_minewatch_services_wait_for_a_healthy_influxdb(name: str) -> None:
    assert SERVICES[name]["depends_on"]["influxdb"]["condition"] == "service_healthy"
    assert SERVICES["influxdb"]["healthcheck"]["test"][:2] == ["CMD", "influx"]


def test_the_mounted_facility_config_passes_check_config(tmp_path: Path) -> None:
    """The whole-configuration check (profiles, registry, groups), with the image's paths mapped
    here."""
    from minewatch.validation import check_facility

    text = _mounted_config().read_text().replace(str(IMAGE_SOURCE), str(ROOT))
    (tmp_path / "facility.yaml").write_text(text)
    assert check_facility(tmp_path / "facility.yaml") == []
