"""The hash-chained ledger: every edit, deletion or reordering in the database is found at its
entry."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest

from minewatch.ledger import GENESIS, Ledger, entry_hash

N = 12


def _filled(tmp_path: Path, n: int = N) -> Ledger:
    led = Ledger(tmp_path / "state.db")
    for i in range(1, n + 1):
        led.append(
            "alert.transition",
            {
                "alert_id": i,
                "value": 90.0 + i / 10,
                "to_state": "firing",
                "nested": {"b": [1, 2], "a": None},
            },
            at_ns=1_750_000_000_000_000_000 + i,
            actor="analyzer",
            subject=f"TH-01:rig-{i}",
        )
    return led


def _sql(led: Ledger, *statements: str) -> None:
    raw = sqlite3.connect(led.path)
    for s in statements:
        raw.execute(s)
    raw.commit()
    raw.close()


def test_intact_chain_verifies_and_links_to_genesis(tmp_path: Path) -> None:
    led = _filled(tmp_path)
    rep = led.verify()
    assert rep.ok and rep.entries == N and rep.head.seq == N
    first = led.entries(limit=1)[0]
    assert first.prev_hash == GENESIS
    assert first.hash == entry_hash(
        GENESIS, 1, first.at_ns, first.kind, first.actor, first.subject, first.payload
    )


@pytest.mark.parametrize("seq", [1, 5, N])
@pytest.mark.parametrize(
    "column,value",
    [
        ("payload", "'{\"alert_id\":999}'"),
        ("at_ns", "at_ns + 1"),
        ("actor", "'operator'"),
        ("kind", "'alert.ack'"),
    ],
)
def test_edit_of_any_column_is_found_at_that_entry(
    tmp_path: Path, seq: int, column: str, value: str
) -> None:
    led = _filled(tmp_path)
    _sql(led, f"UPDATE ledger SET {column} = {value} WHERE seq = {seq}")
    rep = led.verify()
    assert not rep.ok
    assert (rep.problems[0].what, rep.problems[0].seq) == ("edited", seq)


def test_edit_with_recomputed_hash_is_found_at_the_edited_entry(tmp_path: Path) -> None:
    """A forger who also fixes the edited entry's own hash is caught by the next entry's link."""
    led = _filled(tmp_path)
    _sql(led, "UPDATE ledger SET payload = '{\"value\": 1.0}' WHERE seq = 7")
    e = led.entries(after_seq=6, limit=1)[0]
    h = entry_hash(e.prev_hash, e.seq, e.at_ns, e.kind, e.actor, e.subject, e.payload)
    _sql(led, f"UPDATE ledger SET hash = '{h}' WHERE seq = 7")
    rep = led.verify()
    assert [(p.what, p.seq) for p in rep.problems] == [("edited", 7)]
    assert "re-hashed" in rep.problems[0].detail


@pytest.mark.parametrize("seq", [1, 6, N - 1])
def test_deletion_is_found_at_the_missing_entry(tmp_path: Path, seq: int) -> None:
    led = _filled(tmp_path)
    _sql(led, f"DELETE FROM ledger WHERE seq = {seq}")
    rep = led.verify()
    assert (rep.problems[0].what, rep.problems[0].seq) == ("deleted", seq)
    assert len(rep.problems) == 1


def test_deletion_of_a_range_is_one_problem(tmp_path: Path) -> None:
    led = _filled(tmp_path)
    _sql(led, "DELETE FROM ledger WHERE seq BETWEEN 4 AND 6")
    rep = led.verify()
    assert [(p.what, p.seq) for p in rep.problems] == [("deleted", 4)]
    assert "#4..#6" in rep.problems[0].detail


def test_deletion_with_renumbering_is_found(tmp_path: Path) -> None:
    led = _filled(tmp_path)
    _sql(led, "DELETE FROM ledger WHERE seq = 3", "UPDATE ledger SET seq = seq - 1 WHERE seq > 3")
    rep = led.verify()
    assert rep.problems[0].seq == 3 and rep.problems[0].what in ("reordered", "edited")


@pytest.mark.parametrize("a,b", [(1, 2), (5, 6), (3, 9)])
def test_reordering_is_found_at_the_first_moved_entry(tmp_path: Path, a: int, b: int) -> None:
    led = _filled(tmp_path)
    _sql(
        led,
        f"UPDATE ledger SET seq = -1 WHERE seq = {a}",
        f"UPDATE ledger SET seq = {a} WHERE seq = {b}",
        f"UPDATE ledger SET seq = {b} WHERE seq = -1",
    )
    rep = led.verify()
    assert (rep.problems[0].what, rep.problems[0].seq) == ("reordered", a)
    assert f"written as #{b}" in rep.problems[0].detail


def test_swapped_contents_are_reordered(tmp_path: Path) -> None:
    """Rows keep their numbers but exchange everything else."""
    led = _filled(tmp_path)
    cols = "at_ns, kind, actor, subject, payload, prev_hash, hash"
    _sql(
        led,
        f"CREATE TABLE t AS SELECT seq, {cols} FROM ledger WHERE seq IN (4, 5)",
        *[
            f"UPDATE ledger SET {c} = (SELECT {c} FROM t WHERE t.seq = 9 - ledger.seq) WHERE seq "
            "IN (4, 5)"
            for c in cols.split(", ")
        ],
    )
    rep = led.verify()
    assert (rep.problems[0].what, rep.problems[0].seq) == ("reordered", 4)


def test_truncated_or_rewritten_tail_is_caught_by_anchors(tmp_path: Path) -> None:
    led = _filled(tmp_path)
    anchors = {8: led.entries(after_seq=7, limit=1)[0].hash, N: led.head().hash}
    assert led.verify(anchors).ok
    _sql(led, "DELETE FROM ledger WHERE seq > 9")  # chain still intact on its own
    assert led.verify().ok
    rep = led.verify(anchors)
    assert [(p.what, p.seq) for p in rep.problems] == [("anchor", N)]


def test_concurrent_appends_keep_one_chain(tmp_path: Path) -> None:
    led = Ledger(tmp_path / "state.db")

    def writer(k: int) -> None:
        mine = Ledger(tmp_path / "state.db")
        for i in range(40):
            mine.append("hourly.record", {"writer": k, "i": i}, at_ns=i)

    threads = [threading.Thread(target=writer, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    rep = led.verify()
    assert rep.ok and rep.entries == 160


def test_payload_that_is_not_json_is_rejected(tmp_path: Path) -> None:
    led = Ledger(tmp_path / "state.db")
    with pytest.raises(TypeError, match="JSON"):
        led.append("x", {"bad": object()}, at_ns=1)
    assert led.head().seq == 0
