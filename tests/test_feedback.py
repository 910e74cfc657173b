"""The feedback store: only the listed fields, durable, concurrent, deletable, exported without ids."""

import json
import sqlite3
import subprocess
import sys
import threading
import time

import pytest

from careerpath.app import cli
from careerpath.data.feedback import COLUMNS, FeedbackError, FeedbackEvent, FeedbackStore


def _event(session="s1", item="c-python", rating=1, **kw):
    return FeedbackEvent(
        session_id=session,
        item_kind="course",
        item_id=item,
        rating=rating,
        profile={"job": "data-analyst", "goal": "data-scientist", "skills": ["sql"], "courses": []},
        shown=["c-python", "c-sql"],
        model_version="v1",
        **kw,
    )


def test_only_listed_fields_are_stored(tmp_path):
    store = FeedbackStore(tmp_path / "fb.sqlite")
    ev = _event(raw_text="I'm Maria from Lisbon, 34")
    ev.profile = {**ev.profile, "name": "Maria", "ip": "10.0.0.1", "user_agent": "Firefox"}
    assert store.add(ev)
    conn = sqlite3.connect(tmp_path / "fb.sqlite")
    cols = [r[1] for r in conn.execute("PRAGMA table_info(feedback)")]
    assert cols == ["id", *COLUMNS]
    (row,) = store.rows()
    assert row["raw_text"] is None  # off by default
    assert set(row["profile"]) == {"job", "goal", "skills", "courses"}
    assert "Maria" not in json.dumps(row) and "10.0.0.1" not in json.dumps(row)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_raw_text_only_when_operator_turns_it_on(tmp_path):
    store = FeedbackStore(tmp_path / "fb.sqlite", keep_raw_text=True)
    store.add(_event(raw_text="x" * 5000))
    assert store.rows()[0]["raw_text"] == "x" * 2000  # capped


def test_duplicate_event_ids_are_stored_once(tmp_path):
    store = FeedbackStore(tmp_path / "fb.sqlite")
    ev = _event(event_id="e1")
    assert store.add(ev) and not store.add(ev)
    assert store.count() == 1


@pytest.mark.parametrize(
    "change, match",
    [
        ({"rating": 2}, "rating"),
        ({"rating": True}, "rating"),
        ({"item_kind": "video"}, "item_kind"),
        ({"item_id": ""}, "item_id"),
        ({"shown": ["x"] * 500}, "shown"),
        ({"profile": {"skills": "sql"}}, "profile.skills"),
        ({"session_id": None}, "session_id"),
    ],
)
def test_bad_events_are_refused_with_the_field_named(tmp_path, change, match):
    store = FeedbackStore(tmp_path / "fb.sqlite")
    ev = _event()
    for k, v in change.items():
        setattr(ev, k, v)
    with pytest.raises(FeedbackError, match=match):
        store.add(ev)
    assert store.count() == 0


@pytest.mark.slow
def test_twenty_threads_write_every_event_exactly_once(tmp_path):
    path = tmp_path / "fb.sqlite"
    FeedbackStore(path)
    n_threads, per_thread = 20, 50
    errors = []

    def writer(t):
        store = FeedbackStore(path)
        try:
            for i in range(per_thread):
                store.add(_event(session=f"s{t}", event_id=f"{t}-{i}"))
        except Exception as e:  # pragma: no cover - the assertion below reports it
            errors.append(e)

    threads = [threading.Thread(target=writer, args=(t,)) for t in range(n_threads)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert not errors
    ids = [r["event_id"] for r in FeedbackStore(path).rows()]
    assert len(ids) == len(set(ids)) == n_threads * per_thread


@pytest.mark.slow
def test_acknowledged_events_survive_kill_9(tmp_path):
    path = tmp_path / "fb.sqlite"
    code = (
        "import sys\n"
        "from careerpath.data.feedback import FeedbackEvent, FeedbackStore\n"
        f"s = FeedbackStore({str(path)!r})\n"
        "for i in range(100000):\n"
        "    s.add(FeedbackEvent('s', 'course', 'c', 1, event_id=f'e{i}'))\n"
        "    print(i, flush=True)\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    acked = -1
    for line in proc.stdout:
        acked = int(line)
        if acked >= 30:
            break
    proc.kill()
    proc.wait()
    stored = {r["event_id"] for r in FeedbackStore(path).rows()}
    assert {f"e{i}" for i in range(acked + 1)} <= stored


def test_delete_purge_and_export_without_session_ids(tmp_path):
    store = FeedbackStore(tmp_path / "fb.sqlite")
    store.add(_event(session="alice"))
    store.add(_event(session="alice", item="c-sql", rating=-1))
    store.add(_event(session="bob", created_at=time.time() - 100 * 86400))
    rows = store.export_for_training()
    assert len(rows) == 3 and all("session_id" not in r for r in rows)
    assert "alice" not in json.dumps(rows) and "bob" not in json.dumps(rows)
    assert [r["user"] for r in rows] == [0, 0, 1]  # re-keyed, still groups one person's rows
    assert store.purge(90) == 1
    assert store.delete_session("alice") == 2
    assert store.count() == 0


def test_cli_stats_export_delete_purge(tmp_path, capsys):
    db = tmp_path / "fb.sqlite"
    store = FeedbackStore(db)
    store.add(_event(session="alice"))
    store.add(_event(session="bob", rating=-1))
    assert cli.main(["feedback", "stats", "--db", str(db), "--json"]) == 0
    stats = json.loads(capsys.readouterr().out)
    assert stats["by_rating"] == {"like": 1, "dislike": 1}
    assert stats["by_model_version"] == {"v1": 2}
    assert stats["by_item"] == [{"kind": "course", "id": "c-python", "likes": 1, "dislikes": 1}]
    out = tmp_path / "fb.jsonl"
    assert cli.main(["feedback", "export", "--db", str(db), "--out", str(out)]) == 0
    assert len(out.read_text().splitlines()) == 2 and "alice" not in out.read_text()
    assert cli.main(["feedback", "delete", "--db", str(db), "--session", "alice"]) == 0
    assert cli.main(["feedback", "purge", "--db", str(db), "--older-than", "0"]) == 0
    assert FeedbackStore(db).count() == 0
    assert cli.main(["feedback", "stats", "--db", str(tmp_path / "missing.sqlite")]) == 2
    assert "careerpath serve" in capsys.readouterr().err


def test_a_file_that_is_not_sqlite_gives_a_clear_error(tmp_path):
    bad = tmp_path / "fb.sqlite"
    bad.write_bytes(b"this is not a database" * 100)
    with pytest.raises(FeedbackError, match="not a usable SQLite feedback store"):
        FeedbackStore(bad)


def test_session_exports_are_private_fresh_and_removed(tmp_path):
    from careerpath.data.feedback import SessionExports

    exports = SessionExports(tmp_path, max_age_s=60)
    assert exports.root.parent == tmp_path and exports.root.stat().st_mode & 0o777 == 0o700
    first = exports.write("s1", {"rows": [1]})
    assert first.stat().st_mode & 0o777 == 0o600 and json.loads(first.read_text()) == {"rows": [1]}
    second = exports.write("s1", {"rows": []})  # a new click replaces the last file
    assert not first.exists() and json.loads(second.read_text()) == {"rows": []}
    other = exports.write("s2", {"rows": [2]})
    assert exports.files() == sorted([second, other])
    assert exports.remove("s1") and not exports.remove("s1") and exports.files() == [other]
    assert exports.sweep(now=time.time() + 30) == 0 and exports.sweep(now=time.time() + 61) == 1
    exports.write("s3", {})
    exports.close()
    assert not exports.root.exists()
