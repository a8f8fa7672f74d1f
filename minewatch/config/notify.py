"""Outbound channels: the central bank (signed, never muted) and operator notifications (routed,
silenceable).

Durations are seconds (floats) so tests can run the whole lifecycle in milliseconds; defaults follow
Prometheus Alertmanager's (group_wait 30 s, group_interval 5 min, repeat_interval 4 h:
https://prometheus.io/docs/alerting/latest/configuration/), with critical alerts repeated every 30
min.
"""

from __future__ import annotations

import os
import re
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

Severity = Literal["info", "warning", "major", "critical"]
SEVERITIES: tuple[str, ...] = ("info", "warning", "major", "critical")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Backoff(_Strict):
    """Retry schedule of one destination: ``initial_s * multiplier**n``, capped, with +/- ``jitter``
    spread so a facility-wide outage does not make every sender retry in lock-step."""

    initial_s: float = Field(1.0, gt=0)
    multiplier: float = Field(2.0, ge=1)
    max_s: float = Field(300.0, gt=0)
    jitter: float = Field(0.2, ge=0, le=1, description="Fraction of the delay drawn at random, +/-")
    dead_after_s: float = Field(
        86400.0, gt=0, description="Deadline: undelivered after this long -> dead, operator alerted"
    )
    critical_max_s: float = Field(
        3.0,
        gt=0,
        description="Cap on the delay while a critical message is queued: the link is probed this "
        "often, so the backlog flows within seconds of the receiver coming back",
    )


class CentralBankSettings(_Strict):
    """The regulator's webhook. Every regulator-notifiable alert goes here whatever the operator
    silences."""

    enabled: bool = False
    url: str | None = Field(
        None, description="HTTPS endpoint of the central bank (POST, JSON, Ed25519-signed)"
    )
    key_dir: str = Field(
        "keys",
        description="Signing keys folder (private key files are mode 0600); relative to the config "
        "file",
    )
    timeout_s: float = Field(10.0, gt=0)
    heartbeat_interval_s: float = Field(
        300.0, gt=0, description="A facility that goes silent is noticed by the missing heartbeat"
    )
    daily_report_at: str | None = Field(
        "06:00",
        pattern=r"^([01]\d|2[0-3]):[0-5]\d$",
        description="Local time (facility timezone) at which the previous day's "
        "report is sent; null: no daily report",
    )
    backoff: Backoff = Field(default_factory=Backoff)

    @model_validator(mode="after")
    def _url_when_enabled(self) -> CentralBankSettings:
        if self.enabled and not self.url:
            raise ValueError("url is required when the central bank channel is enabled")
        return self


class SmtpSettings(_Strict):
    host: str = "127.0.0.1"
    port: int = Field(587, ge=1, le=65535)
    tls: Literal["starttls", "ssl", "none"] = Field(
        "starttls", description="starttls (587), ssl (465) or none (local relay)"
    )
    username: str | None = None
    password_env: str | None = Field(
        None, description="Environment variable holding the SMTP password"
    )
    timeout_s: float = Field(15.0, gt=0)
    ca_file: str | None = Field(
        None,
        description="CA bundle that signed the server's certificate (private CA); "
        "default: the system's trust store",
    )

    def password(self) -> str | None:
        return os.environ.get(self.password_env) if self.password_env else None


_OPERATOR_BACKOFF = {"initial_s": 2.0, "max_s": 120.0, "dead_after_s": 3600.0}


class _Channel(_Strict):
    name: str = Field(
        pattern=r"^[a-z0-9][a-z0-9_-]*$",
        description="Referenced by routes; also the outbox destination",
    )
    backoff: Backoff = Field(default_factory=lambda: Backoff(**_OPERATOR_BACKOFF))


class EmailChannel(_Channel):
    type: Literal["email"]
    smtp: SmtpSettings = Field(default_factory=SmtpSettings)
    from_addr: str = Field(alias="from", pattern=r"^[^@\s]+@[^@\s]+$")
    to: list[Annotated[str, Field(pattern=r"^[^@\s]+@[^@\s]+$")]] = Field(min_length=1)

    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class WebhookChannel(_Channel):
    type: Literal["webhook"]
    url: str = Field(pattern=r"^https?://")
    format: Literal["json", "slack"] = Field(
        "json", description="slack: a {'text': ...} body that Slack/Mattermost accept"
    )
    timeout_s: float = Field(10.0, gt=0)
    token_env: str | None = Field(
        None, description="Environment variable with a bearer token sent as Authorization"
    )


class MqttChannel(_Channel):
    type: Literal["mqtt"]
    topic: str = Field("minewatch/alerts", min_length=1)
    host: str | None = Field(None, description="Broker; defaults to the facility's mqtt.host/port")
    port: int | None = Field(None, ge=1, le=65535)
    qos: Literal[0, 1, 2] = 1
    retain: bool = False
    timeout_s: float = Field(10.0, gt=0)

    @model_validator(mode="after")
    def _topic_has_no_wildcards(self) -> MqttChannel:
        if re.search(r"[+#]", self.topic):
            raise ValueError(f"topic {self.topic!r}: a publish topic cannot contain '+' or '#'")
        return self


Channel = Annotated[EmailChannel | WebhookChannel | MqttChannel, Field(discriminator="type")]


class Route(_Strict):
    """Which alerts go to which operator channels. First matching route wins; an empty list matches
    all; all non-empty lists must match."""

    name: str = Field("", description="For logs; defaults to the route's position")
    severities: list[Severity] = Field(default_factory=list)
    families: list[str] = Field(default_factory=list)
    hints: list[str] = Field(
        default_factory=list,
        description="Match rules whose compliance-profile `notify:` "
        "lists one of these, e.g. emergency",
    )
    channels: list[str] = Field(min_length=1)
    repeat_interval_s: float | None = Field(
        None, gt=0, description="Overrides the default repeat interval"
    )
    escalate_after_s: float | None = Field(
        None, gt=0, description="Still firing and unacknowledged after this long -> escalate"
    )
    escalate_to: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _escalation_complete(self) -> Route:
        if (self.escalate_after_s is None) != (not self.escalate_to):
            raise ValueError("escalate_after_s and escalate_to go together")
        return self

    def matches(self, severity: str, family: str, hints: list[str]) -> bool:
        return (
            (not self.severities or severity in self.severities)
            and (not self.families or family in self.families)
            and (not self.hints or any(h in self.hints for h in hints))
        )


class NotifySettings(_Strict):
    central_bank: CentralBankSettings = Field(default_factory=CentralBankSettings)
    channels: list[Channel] = Field(default_factory=list)
    routes: list[Route] = Field(
        default_factory=list, description="Empty: every alert goes to every channel"
    )
    group_wait_s: float = Field(
        30.0, ge=0, description="Wait this long after a group's first alert to batch its siblings"
    )
    group_interval_s: float = Field(
        300.0, ge=0, description="Minimum time between two notifications of one group"
    )
    repeat_interval_s: float = Field(
        4 * 3600.0, gt=0, description="Re-notify a still-firing, unacknowledged alert"
    )
    critical_repeat_interval_s: float = Field(1800.0, gt=0)
    poll_interval_s: float = Field(
        0.5, gt=0, description="How often the service looks for work other processes queued"
    )

    @model_validator(mode="after")
    def _routes_name_channels(self) -> NotifySettings:
        names = [c.name for c in self.channels]
        dup = {n for n in names if names.count(n) > 1}
        if dup:
            raise ValueError(f"channel names must be unique; repeated: {', '.join(sorted(dup))}")
        if "central_bank" in names:
            raise ValueError("'central_bank' is reserved for the regulator's channel")
        for i, r in enumerate(self.routes):
            unknown = [c for c in (*r.channels, *r.escalate_to) if c not in names]
            if unknown:
                raise ValueError(
                    f"routes[{i}]: unknown channel(s) {', '.join(unknown)}; defined: "
                    f"{', '.join(names) or 'none'}"
                )
        return self

    def repeat_interval_for(self, severity: str, route: Route | None) -> float:
        if route is not None and route.repeat_interval_s is not None:
            return route.repeat_interval_s
        return self.critical_repeat_interval_s if severity == "critical" else self.repeat_interval_s
