"""An MQTT broker for ``minewatch demo``: Mosquitto when it is installed, else amqtt in-process.

The demo must work after a plain ``pip install`` (no Debian packages), so the fallback is a pure
Python broker. amqtt speaks MQTT 3.1.1 only; ``protocol`` tells the caller which version clients
must use. Production sites run their own broker (Mosquitto, EMQX) and never use this module.
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import logging
import os
import pwd
import shutil
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path
from typing import Literal

from minewatch.errors import ConfigError, MinewatchError

log = logging.getLogger(__name__)

BrokerKind = Literal["mosquitto", "amqtt"]


def free_port(host: str = "127.0.0.1") -> int:
    """A port nobody listens on right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def wait_listening(host: str, port: int, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return True
        except OSError:
            time.sleep(0.05)
    return False


def mosquitto_path() -> str | None:
    for cand in (shutil.which("mosquitto"), "/usr/sbin/mosquitto"):
        if cand and Path(cand).exists():
            return cand
    return None


def _detach_but_die_with_parent() -> None:
    """In the broker child: leave the terminal's process group, so Ctrl-C reaches only minewatch,
    which stops the collector before the broker; but die if minewatch itself is killed (Linux)."""
    os.setpgrp()
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):  # not Linux: the supervisor still stops it on a clean exit
        pass


class EmbeddedBroker:
    """One broker on ``host:port`` (port 0 = pick a free one) with start/stop/stats like every part.

    ``prefer`` forces a kind (tests use it to exercise the amqtt path even where Mosquitto exists).
    """

    def __init__(
        self,
        workdir: Path,
        host: str = "127.0.0.1",
        port: int = 0,
        prefer: BrokerKind | None = None,
    ) -> None:
        self.workdir = workdir
        self.host = host
        self.port = port or free_port(host)
        self.kind: BrokerKind = prefer or ("mosquitto" if mosquitto_path() else "amqtt")
        self._proc: subprocess.Popen[bytes] | None = None
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._amqtt: object | None = None
        self._started_at: float | None = None

    @property
    def protocol(self) -> Literal["3.1.1", "5"]:
        """MQTT version clients must speak to this broker."""
        return "5" if self.kind == "mosquitto" else "3.1.1"

    def start(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        if self.kind == "mosquitto":
            self._start_mosquitto()
            if not wait_listening(self.host, self.port, 15.0):
                self.stop()
                raise MinewatchError(
                    f"mosquitto did not listen on {self.host}:{self.port} within 15 s "
                    f"(see {self.workdir / 'mosquitto.log'})"
                )
        else:
            self._start_amqtt()  # returns once amqtt's listener is up
        self._started_at = time.monotonic()
        log.info("MQTT broker (%s) listening on %s:%d", self.kind, self.host, self.port)

    def _start_mosquitto(self) -> None:
        binary = mosquitto_path()
        if binary is None:
            raise ConfigError(["--broker mosquitto: mosquitto is not installed (or use amqtt)"])
        conf = self.workdir / "mosquitto.conf"
        conf.write_text(
            f"listener {self.port} {self.host}\n"
            # stay the user minewatch runs as: dropping privileges would clear the parent-death
            # signal
            f"user {pwd.getpwuid(os.getuid()).pw_name}\n"
            "allow_anonymous true\n"
            "persistence true\n"
            f"persistence_location {self.workdir}/\n"
            "max_queued_messages 100000\n"
            "log_dest stderr\n"
            "log_type error\n"
        )
        with (self.workdir / "mosquitto.log").open("ab") as err:
            self._proc = subprocess.Popen(
                [binary, "-c", str(conf)],
                stdout=subprocess.DEVNULL,
                stderr=err,
                preexec_fn=_detach_but_die_with_parent,
            )

    def _start_amqtt(self) -> None:
        ready = threading.Event()
        failure: list[BaseException] = []

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            asyncio.set_event_loop(loop)
            try:
                loop.run_until_complete(self._amqtt_start())
            except BaseException as exc:  # reported to start() below
                failure.append(exc)
                ready.set()
                return
            ready.set()
            loop.run_forever()
            loop.run_until_complete(self._amqtt_shutdown())
            loop.close()

        self._thread = threading.Thread(target=run, name="amqtt-broker", daemon=True)
        self._thread.start()
        if not ready.wait(15.0) or failure:
            reason = failure[0] if failure else "no answer within 15 s"
            self.stop()
            raise MinewatchError(
                f"embedded amqtt broker failed to start on {self.host}:{self.port}: {reason}"
            )

    async def _amqtt_start(self) -> None:
        from amqtt.broker import Broker

        # amqtt logs every packet at INFO through its default plugins; keep only what matters.
        logging.getLogger("amqtt").setLevel(logging.WARNING)
        broker = Broker(
            {
                "listeners": {"default": {"type": "tcp", "bind": f"{self.host}:{self.port}"}},
                "plugins": {
                    "amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": True}
                },
            }
        )
        await broker.start()
        self._amqtt = broker

    async def _amqtt_shutdown(self) -> None:
        if self._amqtt is not None:
            try:
                await self._amqtt.shutdown()  # type: ignore[attr-defined]
            except Exception:  # shutting down anyway; a failure here must not hide the exit
                log.exception("amqtt broker shutdown failed")

    def stop(self) -> None:
        """Idempotent; waits for the broker to exit."""
        if self._proc is not None:
            if self._proc.poll() is None:
                self._proc.terminate()
                try:
                    self._proc.wait(5)
                except subprocess.TimeoutExpired:
                    self._proc.kill()
                    self._proc.wait(5)
            self._proc = None
        if self._thread is not None and self._loop is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
            self._thread = None

    def stats(self) -> dict[str, object]:
        running = (self._proc is not None and self._proc.poll() is None) or (
            self._thread is not None and self._thread.is_alive()
        )
        return {
            "kind": self.kind,
            "host": self.host,
            "port": self.port,
            "protocol": self.protocol,
            "running": running,
            "uptime_s": round(time.monotonic() - self._started_at, 1)
            if self._started_at and running
            else 0,
        }
