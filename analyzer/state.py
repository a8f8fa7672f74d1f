"""The alert store the analyzer, the API and the notifier's commands use: ``AlertRecords`` (what is
persisted) plus the events an operator's action publishes, ``alert.ack`` and ``silence.created``, so
the notifier and the ledger hear of them whichever process acted. The analyzer's own transitions are
published by the analyzer, after its cycle commits."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from minewatch.alerting import silence_event
from minewatch.analyzer.alert_records import AlertRecords
from minewatch.events import Event, EventBus
from minewatch.sample import now_ns


class AlertStore(AlertRecords):
    def __init__(
        self, path: Path | str, bus: EventBus | None = None, clock: Callable[[], int] = now_ns
    ) -> None:
        super().__init__(path, clock)
        self.bus = bus

    def acknowledge(
        self, alert_id: int, actor: str, comment: str, expires_at_ns: int | None
    ) -> dict[str, Any]:
        alert = super().acknowledge(alert_id, actor, comment, expires_at_ns)
        self._publish(
            Event(
                "alert.ack",
                alert["ack_at_ns"],
                actor,
                f"{alert['rule_id']}:{alert['subject']}",
                {
                    "alert_id": alert_id,
                    "comment": comment,
                    "expires_at_ns": expires_at_ns,
                    "rule_id": alert["rule_id"],
                    "regulator_notifiable": alert["regulator_notifiable"],
                },
            )
        )
        return alert

    def add_silence(
        self,
        matchers: dict[str, str] | list[dict[str, str]],
        starts_at_ns: int,
        ends_at_ns: int,
        author: str,
        reason: str,
        kind: str = "silence",
    ) -> dict[str, Any]:
        sil = super().add_silence(matchers, starts_at_ns, ends_at_ns, author, reason, kind)
        self._publish(
            Event(
                "silence.created",
                sil["created_at_ns"],
                author,
                f"silence:{sil['id']}",
                silence_event(sil),
            )
        )
        return sil

    def _publish(self, event: Event) -> None:
        if self.bus is not None:
            self.bus.publish(event)
