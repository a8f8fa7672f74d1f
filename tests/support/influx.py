"""Real time-series servers for tests and benchmarks: Debian's InfluxDB 1.x (``influxd``) and
VictoriaMetrics (implements ``/api/v2/write``), each on free loopback ports in its own folder."""

from __future__ import annotations

import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from tests.support.ports import free_port, wait_listening

ADMIN_USER = "admin"
ADMIN_PASSWORD = "minewatch-test-pw"


def _binary(name: str, package: str) -> str:
    for cand in (shutil.which(name), f"/usr/bin/{name}"):
        if cand and Path(cand).exists():
            return cand
    raise RuntimeError(
        f"{name} is not installed: run `make test`, which installs Debian's {package} package"
    )


@dataclass
class Server:
    """A server process that can be stopped and started again on the same port and data folder."""

    argv: list[str]
    port: int
    workdir: Path
    ready_path: str
    proc: subprocess.Popen | None = None
    extra_ports: list[int] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        log = (self.workdir / "server.log").open("ab")
        self.proc = subprocess.Popen(self.argv, stdout=log, stderr=log, cwd=self.workdir)
        wait_listening(self.port, timeout_s=30)
        deadline = time.monotonic() + 30
        while True:  # listening is not ready: wait for the health endpoint to answer 2xx
            try:
                if httpx.get(self.url + self.ready_path, timeout=2).status_code < 300:
                    return
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"{self.argv[0]} on port {self.port} not ready; see {self.workdir}/server.log"
                )
            time.sleep(0.05)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.proc = None


def influxd(workdir: Path, *, auth: bool = True) -> Server:
    """InfluxDB 1.x with every listener on a free loopback port; with ``auth``, an admin user
    exists."""
    workdir.mkdir(parents=True, exist_ok=True)
    http_port, rpc_port = free_port(), free_port()
    conf = workdir / "influxdb.conf"
    conf.write_text(f"""
reporting-disabled = true
bind-address = "127.0.0.1:{rpc_port}"
[meta]
  dir = "{workdir}/meta"
  logging-enabled = false
[data]
  dir = "{workdir}/data"
  wal-dir = "{workdir}/wal"
  query-log-enabled = false
  wal-fsync-delay = "0s"
[monitor]
  store-enabled = false
[subscriber]
  enabled = false
[continuous_queries]
  enabled = false
[shard-precreation]
  enabled = false
[http]
  bind-address = "127.0.0.1:{http_port}"
  auth-enabled = {"true" if auth else "false"}
  log-enabled = false
  pprof-enabled = false
[ifql]
  enabled = false
  bind-address = "127.0.0.1:{free_port()}"
""")
    server = Server(
        [_binary("influxd", "influxdb"), "-config", str(conf)],
        http_port,
        workdir,
        "/ping",
        extra_ports=[rpc_port],
    )
    server.start()
    if auth:  # with no user yet, InfluxDB 1.x accepts exactly this statement without credentials
        httpx.post(
            server.url + "/query",
            data={
                "q": f"CREATE USER {ADMIN_USER} WITH PASSWORD '{ADMIN_PASSWORD}' "
                "WITH ALL PRIVILEGES"
            },
        ).raise_for_status()
    return server


def victoria_metrics(workdir: Path) -> Server:
    workdir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    server = Server(
        [
            _binary("victoria-metrics", "victoria-metrics"),
            f"-httpListenAddr=127.0.0.1:{port}",
            f"-storageDataPath={workdir}/data",
            "-loggerLevel=ERROR",
            "-search.latencyOffset=0s",
            "-retentionPeriod=100y",
        ],
        port,
        workdir,
        "/health",
    )
    server.start()
    return server


def influxql(server: Server, q: str, db: str | None = None) -> list[dict]:
    """Run InfluxQL as the admin (for test set-up and assertions, independent of the store)."""
    params = {"q": q, "epoch": "ns", **({"db": db} if db else {})}
    r = httpx.post(
        server.url + "/query", data=params, auth=(ADMIN_USER, ADMIN_PASSWORD), timeout=30
    )
    r.raise_for_status()
    return r.json()["results"]
