"""The alert state machine, shared verbatim by live evaluation and period reports.

Per (rule, subject): ``pending`` (condition true, ``for`` not yet elapsed) → ``firing`` →
``resolved``, ``nodata`` while inputs are missing. Hysteresis: once open, an alert stays open until
the value is past the *clear* threshold, and then ``keep_firing_for`` longer. The machine is pure
(state + observation → state + transitions) so it can be replayed over any period and resumed after
a restart from the persisted state.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from minewatch.alerting import AlertState
from minewatch.analyzer.profile import Rule, ns
from minewatch.analyzer.rules.base import Obs


@dataclass
class SubjectState:
    """One open alert of one rule on one subject, with the timers the machine needs (NaN: no value
    yet; it becomes ``None`` when the alert leaves the analyzer)."""

    rule_id: str
    subject: str
    state: AlertState  # pending | firing | nodata
    active_since: int  # when the condition became true (pending since)
    fired_at: int | None = None
    clear_since: int | None = None
    value: float = float("nan")
    threshold: float = float("nan")
    peak_max: float = float("nan")
    peak_min: float = float("nan")
    alert_id: int | None = None
    extra: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Transition:
    rule_id: str
    subject: str
    at_ns: int
    from_state: AlertState  # inactive for a new alert
    to_state: AlertState
    reason: str
    value: float
    threshold: float
    alert: SubjectState = field(compare=False, repr=False)  # the episode this transition belongs to


def _fmt(v: float) -> str:
    return "n/a" if v != v else f"{v:.6g}"


def step(
    st: SubjectState | None,
    rule: Rule,
    subject: str,
    t: int,
    ok: bool,
    trig: bool,
    clr: bool,
    value: float,
    thr: float,
    clear_at: float | None = None,
) -> tuple[SubjectState | None, list[Transition]]:
    """Advance one (rule, subject) by one evaluation instant (``clear_at``: the level an open alert
    clears at, quoted when it resolves; default the trigger threshold)."""
    out: list[Transition] = []

    def move(to: AlertState, reason: str) -> None:
        assert st is not None  # only called for an open alert
        out.append(Transition(rule.id, subject, t, st.state, to, reason, value, thr, st))

    for_ns, kff_ns = ns(rule.for_), ns(rule.keep_firing_for)
    if st is None:
        if ok and trig:
            st_new = SubjectState(
                rule.id, subject, AlertState.PENDING, t, value=value, threshold=thr
            )
            why = f"value {_fmt(value)} breaches threshold {_fmt(thr)}"
            st_new.peak_max = st_new.peak_min = value
            if for_ns == 0:
                st_new.state, st_new.fired_at = AlertState.FIRING, t
            else:
                why += f"; waiting {rule.for_:g} s"
            out.append(
                Transition(
                    rule.id, subject, t, AlertState.INACTIVE, st_new.state, why, value, thr, st_new
                )
            )
            return st_new, out
        return None, out

    if ok:
        st.value, st.threshold = value, thr
    if not ok:
        if st.state != AlertState.NODATA:
            move(AlertState.NODATA, "inputs missing")
            st.state = AlertState.NODATA
        return st, out
    if not clr:  # still (or again) in breach
        st.clear_since = None
        if st.state == AlertState.NODATA:
            to = AlertState.FIRING if st.fired_at is not None else AlertState.PENDING
            move(to, "data back; condition still true")
            st.state = to
        if st.state == AlertState.PENDING and t - st.active_since >= for_ns:
            move(
                AlertState.FIRING,
                f"condition true for {(t - st.active_since) / 1e9:g} s (for {rule.for_:g} s)",
            )
            st.state, st.fired_at = AlertState.FIRING, t
        return st, out
    # cleared
    if st.state == AlertState.PENDING or (st.state == AlertState.NODATA and st.fired_at is None):
        move(
            AlertState.RESOLVED,
            f"value {_fmt(value)} back within clear threshold before `for` elapsed",
        )
        return None, out
    if kff_ns > 0:
        if st.clear_since is None:
            st.clear_since = t
        if t - st.clear_since < kff_ns:
            if st.state == AlertState.NODATA:
                move(AlertState.FIRING, "data back; keeping firing after clear")
                st.state = AlertState.FIRING
            return st, out
    move(
        AlertState.RESOLVED,
        f"value {_fmt(value)} within clear threshold {_fmt(thr if clear_at is None else clear_at)}"
        + (f" for {rule.keep_firing_for:g} s" if kff_ns else ""),
    )
    return None, out


def deadline(st: SubjectState | None, rule: Rule) -> int | None:
    """Next instant at which time alone can change the state (``for`` or ``keep_firing_for``
    elapsing)."""
    if st is None:
        return None
    if st.state == AlertState.PENDING:
        return st.active_since + ns(rule.for_)
    if st.state == AlertState.FIRING and st.clear_since is not None:
        return st.clear_since + ns(rule.keep_firing_for)
    return None


def run(obs: Obs, rule: Rule, states: dict[str, SubjectState]) -> list[Transition]:
    """Advance every subject through every instant of ``obs``; ``states`` (open alerts) is updated
    in place.

    Work is proportional to changes, not to instants: a subject is stepped at the start of each run
    of identical (ok, trigger, cleared) and when a ``for``/``keep_firing_for`` deadline falls inside
    a run.
    """
    transitions: list[Transition] = []
    ts = obs.instants
    J = len(ts)
    if not J:
        return transitions
    subj_index = {s: i for i, s in enumerate(obs.subjects)}
    interesting = set(np.flatnonzero(obs.trigger.any(axis=0)).tolist())
    interesting.update(subj_index[s] for s in states if s in subj_index)
    for s in list(states):  # open alerts whose subject no longer exists get no data
        if s not in subj_index:
            st, tr = step(states[s], rule, s, int(ts[0]), False, False, False, np.nan, np.nan)
            transitions += tr
    thr_b = np.broadcast_to(obs.threshold, obs.value.shape)
    clear_b = thr_b if obs.clear_level is None else np.broadcast_to(obs.clear_level, thr_b.shape)
    for i in sorted(interesting):
        subject = obs.subjects[i]
        ok, trig, clr, val, thr, clear_at = (
            obs.ok[:, i],
            obs.trigger[:, i],
            obs.cleared[:, i],
            obs.value[:, i],
            thr_b[:, i],
            clear_b[:, i],
        )
        if J == 1:  # the live case
            starts, ends = [0], [1]
        else:
            code = ok.astype(np.int8) * 4 + trig.astype(np.int8) * 2 + clr.astype(np.int8)
            starts = np.flatnonzero(np.r_[True, code[1:] != code[:-1]]).tolist()
            ends = [*starts[1:], J]
        st = states.get(subject)
        for a, b in zip(starts, ends, strict=True):
            j = a
            while j < b:
                st, tr = step(
                    st,
                    rule,
                    subject,
                    int(ts[j]),
                    bool(ok[j]),
                    bool(trig[j]),
                    bool(clr[j]),
                    float(val[j]),
                    float(thr[j]),
                    float(clear_at[j]),
                )
                transitions += tr
                # peak of the episode since onset
                if st is not None and st.state in (AlertState.PENDING, AlertState.FIRING):
                    seg = val[j:b][~np.isnan(val[j:b])]
                    if len(seg):
                        hi, lo = float(seg.max()), float(seg.min())
                        st.peak_max = hi if st.peak_max != st.peak_max else max(st.peak_max, hi)
                        st.peak_min = lo if st.peak_min != st.peak_min else min(st.peak_min, lo)
                dl = deadline(st, rule)
                if dl is None or dl > ts[b - 1]:
                    break
                j = max(j + 1, int(np.searchsorted(ts, dl, side="left")))
        if st is None:
            states.pop(subject, None)
        else:
            states[subject] = st
    return transitions
