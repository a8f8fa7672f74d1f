"""How a queued message reaches one destination: signed HTTP POST (central bank), webhook, SMTP,
MQTT.

A transport makes one attempt and says what happened; it never retries (the delivery worker owns
retries, backoff and deadlines) and never raises for a delivery failure.
"""

from __future__ import annotations

import os
import smtplib
import ssl
import threading
from collections.abc import Callable
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path

import httpx
import orjson
import paho.mqtt.client as mqtt

import minewatch
from minewatch.config.mqtt import MqttSettings
from minewatch.config.notify import EmailChannel, MqttChannel, WebhookChannel
from minewatch.notifier.outbox import Message
from minewatch.notifier.signing import H_IDEMPOTENCY, H_MESSAGE_ID, Signer


@dataclass(frozen=True, slots=True)
class Result:
    ok: bool
    status_code: int | None
    detail: str


class Transport:
    def send(self, msg: Message) -> Result:
        raise NotImplementedError

    def close(self) -> None:
        """Release connections."""


class HttpTransport(Transport):
    """POST the stored body bytes as JSON. With a signer, each attempt is signed afresh (new
    timestamp) over the same bytes. 2xx is delivered; anything else (or no answer) is retried."""

    def __init__(
        self,
        url: str,
        timeout_s: float,
        *,
        signer_factory: Callable[[], Signer] | None = None,
        bearer_env: str | None = None,
    ) -> None:
        self.url = url
        self._signer_factory = signer_factory
        self._bearer_env = bearer_env
        self._client = httpx.Client(timeout=httpx.Timeout(timeout_s), follow_redirects=False)

    def send(self, msg: Message) -> Result:
        headers = {
            "Content-Type": "application/json",
            "User-Agent": f"minewatch-notifier/{minewatch.__version__}",
            H_MESSAGE_ID: msg.message_id,
            H_IDEMPOTENCY: msg.idempotency_key,
        }
        try:
            if self._signer_factory is not None:
                headers.update(self._signer_factory().headers(msg.body))
        except (
            Exception
        ) as exc:  # a missing/unreadable key is a delivery failure, retried, never a crash
            return Result(False, None, f"signing failed: {exc}")
        token = os.environ.get(self._bearer_env) if self._bearer_env else None
        if token:
            headers["Authorization"] = f"Bearer {token}"
        try:
            resp = self._client.post(self.url, content=msg.body, headers=headers)
        except httpx.HTTPError as exc:
            return Result(False, None, f"{type(exc).__name__}: {exc}"[:500])
        text = resp.text[:500]
        return Result(200 <= resp.status_code < 300, resp.status_code, text)

    def close(self) -> None:
        self._client.close()


class SmtpTransport(Transport):
    """E-mail over SMTP: STARTTLS or implicit TLS with certificate checks, optional login; the
    password is read from the environment at send time. The stored body is ``{"subject": ...,
    "text": ...}``."""

    def __init__(self, ch: EmailChannel, ca_file: str | Path | None = None) -> None:
        self.ch = ch
        self._ctx = ssl.create_default_context(cafile=ca_file)

    def send(self, msg: Message) -> Result:
        doc = orjson.loads(msg.body)
        em = EmailMessage()
        em["Subject"] = doc["subject"]
        em["From"] = self.ch.from_addr
        em["To"] = ", ".join(self.ch.to)
        em["Date"] = formatdate(usegmt=True)
        em["Message-ID"] = make_msgid(idstring=msg.message_id.replace("-", ""), domain="minewatch")
        em["X-Minewatch-Idempotency-Key"] = msg.idempotency_key
        em.set_content(doc["text"])
        s = self.ch.smtp
        try:
            conn = (
                smtplib.SMTP_SSL(s.host, s.port, timeout=s.timeout_s, context=self._ctx)
                if s.tls == "ssl"
                else smtplib.SMTP(s.host, s.port, timeout=s.timeout_s)
            )
            with conn as smtp:
                if s.tls == "starttls":
                    smtp.starttls(context=self._ctx)
                if s.username:
                    smtp.login(s.username, s.password() or "")
                refused = smtp.send_message(em)
        except (smtplib.SMTPException, OSError, ssl.SSLError) as exc:
            code = getattr(exc, "smtp_code", None)
            return Result(
                False, code if isinstance(code, int) else None, f"{type(exc).__name__}: {exc}"[:500]
            )
        if refused:
            return Result(False, None, f"recipients refused: {', '.join(refused)}")
        return Result(True, 250, f"accepted for {len(self.ch.to)} recipient(s)")


class MqttTransport(Transport):
    """Publish to the alert topic (QoS 1 by default) and wait for the broker's acknowledgement."""

    def __init__(self, ch: MqttChannel, broker: MqttSettings) -> None:
        self.ch = ch
        self.host = ch.host or broker.host
        self.port = ch.port or broker.port
        self._broker = broker
        self._client: mqtt.Client | None = None
        self._lock = threading.Lock()

    def _connect(self) -> mqtt.Client:
        c = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2,
            client_id=f"minewatch-notify-{self.ch.name}-{os.getpid()}",
        )
        if self._broker.username:
            c.username_pw_set(self._broker.username, self._broker.password())
        if self._broker.tls:
            c.tls_set(ca_certs=self._broker.ca_file)
        c.connect(self.host, self.port, keepalive=30)
        c.loop_start()
        return c

    def send(self, msg: Message) -> Result:
        with self._lock:
            try:
                if self._client is None:
                    self._client = self._connect()
                info = self._client.publish(
                    self.ch.topic, msg.body, qos=self.ch.qos, retain=self.ch.retain
                )
                info.wait_for_publish(timeout=self.ch.timeout_s)
                if not info.is_published():
                    raise OSError(
                        f"broker did not acknowledge within {self.ch.timeout_s} s (rc {info.rc})"
                    )
            except (OSError, ValueError, RuntimeError) as exc:
                self._drop()
                return Result(
                    False, None, f"mqtt {self.host}:{self.port}: {type(exc).__name__}: {exc}"[:500]
                )
        return Result(True, None, f"published to {self.ch.topic}")

    def _drop(self) -> None:
        if self._client is not None:
            self._client.loop_stop()
            self._client.disconnect()
            self._client = None

    def close(self) -> None:
        with self._lock:
            self._drop()


def webhook_transport(ch: WebhookChannel) -> HttpTransport:
    return HttpTransport(ch.url, ch.timeout_s, bearer_env=ch.token_env)
