"""The alert transition every part shares, and the one rule for whether a silence covers an alert.

The analyzer publishes an ``alert.transition``; the ledger, the notifier, the alert copy for Grafana
and the API read it. On the bus and in the ledger it travels as JSON (``AlertTransition.to_json``:
the ledger hashes that form, so it must not change shape); inside a part it is this frozen model,
parsed once at the boundary (``AlertTransition.parse``). Numbers are ``None`` when there is no
value: NaN is an analyzer-internal marker and never leaves it.

Silences come in two shapes: ``{"rule_id": "TH-01", "subject": "rig-7"}`` (what the API takes) and
Alertmanager's list of ``{"name", "value", "op"/"isRegex"}`` matchers with ``=``, ``!=`` and ``=~``
(https://prometheus.io/docs/alerting/latest/alertmanager/#silences). Both go through
``silence_matches``, so the analyzer and the notifier can never disagree about what is silenced.
"""

from __future__ import annotations

import math
import re
from enum import StrEnum
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_serializer,
)


class AlertState(StrEnum):
    """Where an alert is in its life. ``inactive`` only appears as the ``from_state`` of a new
    alert; ``suppressed`` is a firing alert the operator side muted (silence or inhibition)."""

    INACTIVE = "inactive"
    PENDING = "pending"
    FIRING = "firing"
    NODATA = "nodata"
    SUPPRESSED = "suppressed"
    RESOLVED = "resolved"


#: States the operator is told about as a live problem.
ACTIVE_STATES = frozenset({AlertState.FIRING, AlertState.NODATA})
#: What ``state=active`` lists, in the API and the CLI alike: alerts that are unfolding and not
#: muted (pending, firing, nodata).
LISTED_ACTIVE_STATES = (AlertState.PENDING, AlertState.FIRING, AlertState.NODATA)
#: The states an alert list can be filtered by: each stored state, or ``active``.
ALERT_FILTERS = (
    *(s.value for s in AlertState if s != AlertState.INACTIVE),
    "active",
)
#: Alert labels a silence may match on.
MATCHER_LABELS = ("rule_id", "subject", "family", "severity")


def finite_or_none(v: Any) -> float | None:
    """A number fit for JSON: NaN, infinities and non-numbers become ``None``."""
    if v is None or isinstance(v, bool):
        return None
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


class Evidence(BaseModel):
    """The series around onset that made the alert fire: raw ``[ns, value]`` points of the subject's
    metric, or of the facility total (``aggregate``, ``step_ns``). ``omitted`` says why there are no
    points (a mass event is not allowed to stall the loop on evidence queries)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    metric: str | None = None
    aggregate: str | None = None
    step_ns: int | None = None
    points: tuple[tuple[int, float | None], ...] = ()
    omitted: str | None = None

    @field_validator("points", mode="before")
    @classmethod
    def _no_nan_points(cls, v: Any) -> Any:
        if not isinstance(v, (list, tuple)):
            return v  # pydantic names the problem
        return [
            (p[0], finite_or_none(p[1])) if isinstance(p, (list, tuple)) and len(p) == 2 else p
            for p in v
        ]

    @model_serializer(mode="wrap")
    def _without_unset(self, handler: Any) -> dict[str, Any]:
        # absent keys stay absent: the regulator message carries a hash of this JSON
        return {k: v for k, v in handler(self).items() if v is not None or k == "metric"}


class AlertTransition(BaseModel):
    """One change of an alert's state, with what an operator or the regulator needs to act on it."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    alert_id: int
    rule_id: str
    subject: str
    from_state: AlertState
    to_state: AlertState
    rule_title: str = ""
    family: str = "other"
    severity: str = "warning"
    regulator_notifiable: bool = False
    value: float | None = None
    threshold: float | None = None
    unit: str = ""
    source: str = ""
    started_at_ns: int | None = None
    reason: str = ""
    silenced: bool = False
    acknowledged: bool = False
    evidence: Evidence = Field(default_factory=Evidence)
    notify: tuple[str, ...] = ()
    group_key: str = ""
    facility_id: str = ""
    at_ns: int | None = None

    @field_validator("value", "threshold", mode="before")
    @classmethod
    def _no_nan(cls, v: Any) -> float | None:
        return finite_or_none(v)

    @classmethod
    def parse(cls, payload: Any) -> AlertTransition:
        """The model from a ledgered or published payload; a ``ValueError`` naming the bad fields
        otherwise (the notifier counts and skips such an entry)."""
        try:
            return cls.model_validate(payload)
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc']) or 'payload'}: {e['msg']}"
                for e in exc.errors()
            )
            raise ValueError(f"alert.transition payload is not valid: {problems}") from None

    def to_json(self) -> dict[str, Any]:
        """The wire form (bus payload, ledger entry, ``notify_alerts.payload``)."""
        return self.model_dump(mode="json")

    @property
    def labels(self) -> dict[str, str]:
        """What a silence matches on."""
        return {k: str(getattr(self, k)) for k in MATCHER_LABELS}


# ---------------------------------------------------------------------------------------- silences
class Matcher(BaseModel):
    """One Alertmanager-style matcher: label ``name`` compared with ``value`` by ``op``."""

    model_config = ConfigDict(frozen=True)

    name: str
    value: str
    op: Literal["=", "!=", "=~", "!~"] = "="

    def holds(self, labels: dict[str, str]) -> bool:
        have = labels.get(self.name, "")
        if self.op == "=":
            return have == self.value
        if self.op == "!=":
            return have != self.value
        found = re.fullmatch(self.value, have) is not None  # anchored, as in Alertmanager
        return found if self.op == "=~" else not found


def parse_matchers(raw: Any) -> tuple[Matcher, ...]:
    """Either silence shape as matchers; ``ValueError`` naming each bad matcher and why (unknown
    operator, invalid regular expression, not a mapping)."""
    items: list[Any]
    if isinstance(raw, dict):
        items = [{"name": k, "value": v, "op": "="} for k, v in raw.items()]
    elif isinstance(raw, list):
        items = raw
    else:
        raise ValueError(f"matchers must be a mapping or a list, got {type(raw).__name__}")
    out: list[Matcher] = []
    problems: list[str] = []
    for i, item in enumerate(items):
        if not isinstance(item, dict):
            problems.append(f"matcher {i}: must be a mapping, got {type(item).__name__}")
            continue
        spec = dict(item)
        if "op" not in spec:
            spec["op"] = "=~" if spec.pop("isRegex", False) else "="
        spec.pop("isRegex", None)
        spec.pop("isEqual", None)
        try:
            m = Matcher.model_validate({**spec, "value": str(spec.get("value", ""))})
            if m.op in ("=~", "!~"):
                re.compile(m.value)
        except ValidationError as exc:
            problems.append(f"matcher {i} ({item.get('name')!r}): {exc.errors()[0]['msg']}")
            continue
        except re.error as exc:
            problems.append(f"matcher {i} ({item.get('name')!r}): bad regular expression: {exc}")
            continue
        out.append(m)
    if problems:
        raise ValueError("; ".join(problems))
    return tuple(out)


def silence_matches(raw: Any, labels: dict[str, str]) -> bool:
    """Whether a silence's matchers (either shape) cover an alert with ``labels``. All matchers must
    hold; a silence with no matchers, or with matchers that do not parse, matches nothing: a silence
    must say what it silences, and a broken one must not mute everything."""
    try:
        matchers = parse_matchers(raw)
    except ValueError:
        return False
    return bool(matchers) and all(m.holds(labels) for m in matchers)


def silence_event(silence: dict[str, Any]) -> dict[str, Any]:
    """The payload of ``silence.created`` / ``silence.expired`` from an alert-store silence row."""
    return {
        "silence_id": silence["id"],
        "kind": silence["kind"],
        "matchers": silence["matchers"],
        "starts_at_ns": silence["starts_at_ns"],
        "ends_at_ns": silence["ends_at_ns"],
        "reason": silence["reason"],
        "author": silence["author"],
    }
