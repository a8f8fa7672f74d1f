"""Notifier fixtures: a signing key, the reference receiver on a free port, an SMTP server
(aiosmtpd)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from minewatch.notifier.signing import KeyStore
from tests.support.notify import ReceiverServer, SmtpServer, WebhookSink, start_smtp


@pytest.fixture
def key_dir(tmp_path: Path) -> Path:
    """A key folder with one generated Ed25519 key (the facility's); ``keys`` in the facility
    config."""
    d = tmp_path / "keys"
    KeyStore(d).generate()
    return d


@pytest.fixture
def receiver(tmp_path: Path, key_dir: Path) -> Iterator[ReceiverServer]:
    """The reference receiver, trusting the facility key in ``key_dir``, with a fault switch."""
    srv = ReceiverServer(tmp_path / "receiver.db", key_dir, hang_s=1.0)
    srv.start()
    yield srv
    srv.stop()
    srv.store.close()


@pytest.fixture
def smtp_server(tmp_path: Path) -> Iterator[SmtpServer]:
    srv = start_smtp(tmp_path)
    yield srv
    srv.controller.stop()


@pytest.fixture
def webhook_sink() -> Iterator[WebhookSink]:
    sink = WebhookSink()
    sink.server.start()
    yield sink
    sink.server.stop()
