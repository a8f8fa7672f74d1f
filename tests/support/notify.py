"""Notifier test harness: the reference receiver under uvicorn with a fault switch, an aiosmtpd
server with STARTTLS and login, and builders for facility configs and alert events."""

from __future__ import annotations

import asyncio
import datetime as dt
import ipaddress
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import orjson
import uvicorn
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from fastapi import FastAPI, Request

from minewatch.alerting import AlertTransition
from minewatch.config.facility import FacilityConfig
from minewatch.events import Event
from minewatch.ledger import Head
from minewatch.notifier.receiver import ReceiverStore, create_app
from minewatch.notifier.regulator import OperatorAnnotation, RegulatorMessage, breach_message
from minewatch.notifier.service import Notifier
from tests.support.ports import free_port, wait_listening
from tests.support.waiting import wait_for


class FaultSwitch:
    """ASGI wrapper in front of the receiver's POST /v1/messages. ``modes`` is consumed one per
    request (then ``ok`` for good): ``ok``; ``500`` (answer 500 without processing);
    ``500-after`` (process, then answer 500: the sender must retry and be told ``duplicate``);
    ``hang`` (sleep past the client's timeout without processing); ``hang-after`` (process, then
    hang)."""

    def __init__(self, app: Any, hang_s: float = 2.0) -> None:
        self.app = app
        self.hang_s = hang_s
        self.modes: list[str] = []
        self.requests = 0
        self._lock = threading.Lock()

    def set_modes(self, modes: list[str]) -> None:
        with self._lock:
            self.modes = list(modes)

    def _next(self) -> str:
        with self._lock:
            self.requests += 1
            return self.modes.pop(0) if self.modes else "ok"

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] != "http" or scope["path"] != "/v1/messages" or scope["method"] != "POST":
            return await self.app(scope, receive, send)
        mode = self._next()
        if mode == "ok":
            return await self.app(scope, receive, send)
        if mode in ("500", "hang"):
            while (await receive()).get("more_body"):
                pass
            if mode == "hang":
                await asyncio.sleep(self.hang_s)
            return await _plain(send, 500, b"injected failure")

        async def swallow(
            msg: dict,
        ) -> None:  # the receiver processes, the sender never hears of it
            pass

        await self.app(scope, receive, swallow)
        if mode == "hang-after":
            await asyncio.sleep(self.hang_s)
        await _plain(send, 500, b"injected failure after processing")


async def _plain(send: Callable, status: int, body: bytes) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"text/plain")],
        }
    )
    await send({"type": "http.response.body", "body": body})


class UvicornThread:
    """An ASGI app under uvicorn in a thread on a fixed port; ``stop()`` then ``start()`` is an
    outage."""

    def __init__(self, app: Any, port: int | None = None) -> None:
        self.app = app
        self.port = port or free_port()
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        config = uvicorn.Config(
            self.app,
            host="127.0.0.1",
            port=self.port,
            log_level="warning",
            lifespan="off",
            timeout_graceful_shutdown=1,
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, daemon=True, name=f"uvicorn-{self.port}"
        )
        self._thread.start()
        deadline = time.monotonic() + 15
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError(f"server did not start on port {self.port}")
            time.sleep(0.01)
        wait_listening(self.port)

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
            assert self._thread is not None
            self._thread.join(10)
            self._server = None


@dataclass
class ReceiverServer:
    """The reference receiver on a fixed free port; ``stop()``/``start()`` take it down and bring
    it back."""

    db_path: Path
    key_dir: Path
    window_s: float = 300
    hang_s: float = 2.0

    def __post_init__(self) -> None:
        self.store = ReceiverStore(self.db_path)
        self.switch = FaultSwitch(None, self.hang_s)
        self.server = UvicornThread(self.switch)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.port}/v1/messages"

    def start(self) -> None:
        self.switch.app = create_app(self.store, [self.key_dir], window_s=self.window_s)
        self.server.start()

    def stop(self) -> None:
        self.server.stop()

    def received(self, kind: str | None = None) -> list[dict[str, Any]]:
        return self.store.messages(kind=kind)

    def count(self, table: str) -> int:
        with self.store.lock:
            return self.store.conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]


class WebhookSink:
    """An operator webhook endpoint (generic JSON or Slack style) that keeps what it is sent."""

    def __init__(self) -> None:
        self.posts: list[tuple[dict[str, str], Any]] = []
        app = FastAPI()

        @app.post("/hook")
        async def hook(request: Request) -> dict[str, str]:
            self.posts.append((dict(request.headers), orjson.loads(await request.body())))
            return {"ok": "true"}

        self.server = UvicornThread(app)
        self.url = f"http://127.0.0.1:{self.server.port}/hook"

    def bodies(self) -> list[Any]:
        return [b for _, b in self.posts]


def self_signed(tmp: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 (cert.pem, key.pem): the SMTP server's identity and the
    client's CA."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
        .sign(key, hashes.SHA256())
    )
    cert_p, key_p = tmp / "smtp-cert.pem", tmp / "smtp-key.pem"
    cert_p.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_p.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_p, key_p


class _Inbox:
    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.envelopes: list[tuple[str, list[str]]] = []
        self.event = threading.Event()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(message_from_bytes(envelope.content, policy=policy.default))
        self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
        self.event.set()
        return "250 Message accepted for delivery"


@dataclass
class SmtpServer:
    host: str
    port: int
    ca_file: Path
    username: str
    password: str
    inbox: _Inbox
    controller: Controller

    def wait_for(self, n: int, timeout_s: float = 20) -> list[EmailMessage]:
        deadline = time.monotonic() + timeout_s
        while len(self.inbox.messages) < n and time.monotonic() < deadline:
            time.sleep(0.02)
        return list(self.inbox.messages)


def start_smtp(
    tmp: Path,
    username: str = "alerts",
    password: str = "s3cret-pass",
    *,
    implicit_tls: bool = False,
) -> SmtpServer:
    """aiosmtpd requiring STARTTLS (or, with ``implicit_tls``, TLS from the first byte like port
    465) and LOGIN/PLAIN authentication, like a real submission server."""
    cert, key = self_signed(tmp)
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(cert, key)
    inbox = _Inbox()

    def authenticator(
        server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any
    ) -> AuthResult:
        ok = (
            isinstance(auth_data, LoginPassword)
            and auth_data.login == username.encode()
            and auth_data.password == password.encode()
        )
        return AuthResult(success=ok, handled=False)

    port = free_port()
    # aiosmtpd only counts STARTTLS as TLS for AUTH; with implicit TLS the whole connection already
    # is
    tls = (
        {"ssl_context": ctx, "auth_require_tls": False}
        if implicit_tls
        else {"tls_context": ctx, "require_starttls": True}
    )
    controller = Controller(
        inbox,
        hostname="127.0.0.1",
        port=port,
        authenticator=authenticator,
        auth_required=True,
        ready_timeout=10,
        **tls,
    )
    controller.start()
    return SmtpServer("127.0.0.1", port, cert, username, password, inbox, controller)


def facility_config(tmp: Path, *, notify: dict[str, Any] | None = None) -> FacilityConfig:
    """A facility whose state.db and keys live under ``tmp``; ``notify`` is the notify section."""
    return FacilityConfig.model_validate(
        {
            "facility": {"id": "ashgabat-01", "name": "Ashgabat Test Facility"},
            "licence": {"number": "TM-CB-2026-0042", "capacity_kw": 5000},
            "storage": {"data_dir": str(tmp / "data")},
            "notify": notify or {},
        }
    ).model_copy(update={"base_dir": tmp})


def fast_backoff(dead_after_s: float = 60.0) -> dict[str, float]:
    return {
        "initial_s": 0.02,
        "multiplier": 2.0,
        "max_s": 0.2,
        "jitter": 0.2,
        "dead_after_s": dead_after_s,
    }


_ALERT_IDS = iter(range(1, 10**9))


def transition(
    rule_id: str = "TH-01",
    to_state: str = "firing",
    *,
    alert_id: int | None = None,
    from_state: str = "pending",
    severity: str = "critical",
    family: str = "thermal",
    regulator_notifiable: bool = True,
    subject: str = "rig-0007",
    value: float = 91.5,
    silenced: bool = False,
    acknowledged: bool = False,
    started_at_ns: int | None = None,
    at_ns: int | None = None,
) -> Event:
    """An ``alert.transition`` event as the analyzer publishes it
    (``minewatch.alerting.AlertTransition``)."""
    now = at_ns or time.time_ns()
    aid = alert_id if alert_id is not None else next(_ALERT_IDS)
    return Event(
        "alert.transition",
        now,
        "analyzer",
        f"{rule_id}:{subject}",
        {
            "alert_id": aid,
            "rule_id": rule_id,
            "rule_title": f"Rule {rule_id}",
            "family": family,
            "severity": severity,
            "regulator_notifiable": regulator_notifiable,
            "subject": subject,
            "from_state": from_state,
            "to_state": to_state,
            "value": value,
            "threshold": 85.0,
            "unit": "C",
            "source": "manufacturer spec",
            "started_at_ns": started_at_ns or now,
            "reason": f"{rule_id} above threshold",
            "silenced": silenced,
            "acknowledged": acknowledged,
            "evidence": {
                "metric": "chip_temp_c",
                "points": [[now - 2_000_000_000, 90.0], [now, value]],
            },
        },
    )


def wait_until(cond: Callable[[], Any], timeout_s: float = 20.0, what: str = "condition") -> Any:
    """The notifier tests' default deadline and a finer poll over ``waiting.wait_for``."""
    return wait_for(cond, timeout_s, what, poll_s=0.02)


HEAD = Head(3, "ab" * 32)


def sample_breach(tmp_path: Path, head: Head = HEAD) -> RegulatorMessage:
    """A breach_opened message for rule EL-01 with ledger head ``head``."""
    cfg = facility_config(tmp_path)
    ev = transition("EL-01", "firing", alert_id=4)
    return breach_message(
        cfg,
        "breach_opened",
        AlertTransition.parse(ev.payload),
        occurred_ns=ev.at_ns,
        now_ns=time.time_ns(),
        head=head,
        annotation=OperatorAnnotation(),
    )


@contextmanager
def running(n: Notifier) -> Iterator[Notifier]:
    """The notifier started for the block and stopped (threads joined) after it, whatever
    happens."""
    n.start()
    try:
        yield n
    finally:
        n.stop()


def fire_alarm_profile(source: str = "NFPA 72 (fire alarm signal)") -> Any:
    """A compliance profile with one regulator-notifiable rule: FS-01, any fire panel's alarm
    input."""
    from minewatch.analyzer.profile_loader import validate_profile

    rule = {
        "id": "FS-01",
        "title": "Fire alarm",
        "kind": "event",
        "family": "fire",
        "severity": "critical",
        "regulator_notifiable": True,
        "selector": {"role": "fire_panel"},
        "params": {"metrics": ["fire_alarm_bool"], "max_age": "60s"},
        "source": source,
    }
    return validate_profile(
        {"id": "fire", "title": "fire", "jurisdiction": "test", "version": "1", "rules": [rule]},
        "fire_alarm_profile",
    )
