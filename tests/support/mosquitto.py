"""A real Mosquitto broker on a free port, with persistence so QoS 1 sessions survive client
restarts."""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from tests.support.ports import free_port, wait_listening


def mosquitto_binary() -> str:
    for cand in (shutil.which("mosquitto"), "/usr/sbin/mosquitto"):
        if cand and Path(cand).exists():
            return cand
    raise RuntimeError(
        "mosquitto is not installed: run `make test`, which installs it with apt-get"
    )


@dataclass
class Broker:
    host: str
    port: int
    proc: subprocess.Popen
    workdir: Path

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


def start_mosquitto(
    workdir: Path,
    port: int | None = None,
    *,
    persistence: bool = True,
    autosave_interval_s: int = 1800,
    extra: str = "",
) -> Broker:
    """Mosquitto on ``port`` (a free one by default) with its config, snapshot and log in
    ``workdir``; starting it again on the same workdir and port is a broker restart."""
    port = port or free_port()
    workdir.mkdir(parents=True, exist_ok=True)
    conf = workdir / "mosquitto.conf"
    conf.write_text(
        f"listener {port} 127.0.0.1\n"
        "allow_anonymous true\n"
        # as root, mosquitto would drop to user 'mosquitto' and could not save into a temp folder
        f"user {pwd.getpwuid(os.getuid()).pw_name}\n"
        f"persistence {'true' if persistence else 'false'}\n"
        f"persistence_location {workdir}/\n"
        f"autosave_interval {autosave_interval_s}\n"
        "max_queued_messages 1000000\n"
        "max_inflight_messages 100\n"
        "log_dest stderr\n"
        "log_type error\n"
        "log_type warning\n"
        f"{extra}"
    )
    proc = subprocess.Popen(
        [mosquitto_binary(), "-c", str(conf)],
        stdout=subprocess.DEVNULL,
        stderr=(workdir / "mosquitto.log").open("ab"),
    )
    wait_listening(port)
    return Broker("127.0.0.1", port, proc, workdir)
