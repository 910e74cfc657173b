"""The feedback store: likes and dislikes from the demo, kept in SQLite for the feedback loop.

One row per event: a random session id, the time, the model version, the parsed profile (catalog
ids only: job, skills, courses, goal), what was shown (catalog ids), the item rated, the rating
(+1 like, -1 dislike). The raw chat text is kept only when the operator turns it on
(``keep_raw_text``); IP addresses and browser details are never stored.

Durability: WAL journal, ``synchronous=FULL`` and one transaction per event, so an event that
:meth:`FeedbackStore.add` has returned for survives a crash of the process. Each event carries a
unique ``event_id`` (random unless given): a retried write is stored once. Every thread gets its
own connection; writers wait for each other (``busy_timeout``) instead of failing.

``careerpath feedback stats|export|delete|purge --db PATH`` are the operator's commands;
``feedback pull --repo`` merges what a Space without persistent storage pushed to the Hub
(:mod:`careerpath.data.feedback_hub`).
"""

from __future__ import annotations

import argparse
import atexit
import json
import os
import shutil
import sqlite3
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_DB = "outputs/feedback.sqlite"
MAX_ITEMS = 200  # ids per list field (skills, courses, shown)
MAX_ID_CHARS = 120
MAX_RAW_TEXT = 2000
PROFILE_KEYS = ("job", "goal", "skills", "courses")
KINDS = ("course", "job", "pathway")
SCHEMA = """
CREATE TABLE IF NOT EXISTS feedback (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id TEXT NOT NULL UNIQUE,
    session_id TEXT NOT NULL,
    created_at REAL NOT NULL,
    model_version TEXT NOT NULL,
    profile TEXT NOT NULL,
    shown TEXT NOT NULL,
    item_kind TEXT NOT NULL,
    item_id TEXT NOT NULL,
    rating INTEGER NOT NULL CHECK (rating IN (-1, 1)),
    raw_text TEXT
);
CREATE INDEX IF NOT EXISTS feedback_session ON feedback (session_id);
CREATE INDEX IF NOT EXISTS feedback_created ON feedback (created_at);
"""
COLUMNS = (
    "event_id",
    "session_id",
    "created_at",
    "model_version",
    "profile",
    "shown",
    "item_kind",
    "item_id",
    "rating",
    "raw_text",
)


class FeedbackError(ValueError):
    """A feedback event that cannot be stored as given; the message says which field and why."""


def new_session_id() -> str:
    """Random, derived from nothing about the person."""
    return uuid.uuid4().hex


def _clean_id(value, what: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise FeedbackError(f"{what}: expected a non-empty catalog id, got {value!r}")
    value = value.strip()
    if len(value) > MAX_ID_CHARS:
        raise FeedbackError(f"{what}: longer than {MAX_ID_CHARS} characters")
    return value


def _clean_ids(values, what: str) -> list[str]:
    if values is None:
        return []
    if not isinstance(values, (list, tuple)):
        raise FeedbackError(f"{what}: expected a list of catalog ids, got {type(values).__name__}")
    if len(values) > MAX_ITEMS:
        raise FeedbackError(f"{what}: more than {MAX_ITEMS} ids")
    return [_clean_id(v, what) for v in values]


def clean_profile(profile: dict | None) -> dict:
    """Only the catalog ids of job, goal, skills and courses; anything else is dropped."""
    profile = profile or {}
    if not isinstance(profile, dict):
        raise FeedbackError(f"profile: expected a dict of catalog ids, got {type(profile).__name__}")
    out = {
        "job": _clean_id(profile["job"], "profile.job") if profile.get("job") else None,
        "goal": _clean_id(profile["goal"], "profile.goal") if profile.get("goal") else None,
        "skills": _clean_ids(profile.get("skills"), "profile.skills"),
        "courses": _clean_ids(profile.get("courses"), "profile.courses"),
    }
    return out


@dataclass
class FeedbackEvent:
    session_id: str
    item_kind: str
    item_id: str
    rating: int
    profile: dict = field(default_factory=dict)
    shown: list[str] = field(default_factory=list)
    model_version: str = ""
    raw_text: str | None = None
    event_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    created_at: float = field(default_factory=time.time)

    def validated(self) -> FeedbackEvent:
        if self.item_kind not in KINDS:
            raise FeedbackError(f"item_kind: {self.item_kind!r} is not one of {', '.join(KINDS)}")
        if self.rating not in (-1, 1) or isinstance(self.rating, bool):
            raise FeedbackError(f"rating: {self.rating!r} must be 1 (like) or -1 (dislike)")
        raw = self.raw_text
        if raw is not None:
            raw = str(raw)[:MAX_RAW_TEXT]
        return FeedbackEvent(
            session_id=_clean_id(self.session_id, "session_id"),
            item_kind=self.item_kind,
            item_id=_clean_id(self.item_id, "item_id"),
            rating=int(self.rating),
            profile=clean_profile(self.profile),
            shown=_clean_ids(self.shown, "shown"),
            model_version=str(self.model_version or "unknown")[:MAX_ID_CHARS],
            raw_text=raw,
            event_id=_clean_id(self.event_id, "event_id"),
            created_at=float(self.created_at),
        )


class FeedbackStore:
    """SQLite feedback store (WAL); safe to share between threads and processes."""

    def __init__(
        self, path: str | Path = DEFAULT_DB, keep_raw_text: bool = False, busy_timeout_s: float = 60
    ):
        self.path = Path(path)
        self.keep_raw_text = keep_raw_text
        self.busy_timeout_s = busy_timeout_s
        self._local = threading.local()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._conn() as conn:
            conn.executescript(SCHEMA)

    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            try:
                conn = sqlite3.connect(self.path, timeout=self.busy_timeout_s, isolation_level=None)
                conn.execute("PRAGMA journal_mode=WAL")
                conn.execute("PRAGMA synchronous=FULL")
            except sqlite3.DatabaseError as e:
                raise FeedbackError(
                    f"{self.path}: not a usable SQLite feedback store ({e}); "
                    "point --db at a new file or at a store careerpath wrote"
                ) from None
            self._local.conn = conn
        return conn

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    # -- writing -------------------------------------------------------------------------
    def add(self, event: FeedbackEvent) -> bool:
        """Store one event in its own transaction; False when that ``event_id`` is already stored."""
        ev = event.validated()
        row = (
            ev.event_id,
            ev.session_id,
            ev.created_at,
            ev.model_version,
            json.dumps(ev.profile, sort_keys=True),
            json.dumps(ev.shown),
            ev.item_kind,
            ev.item_id,
            ev.rating,
            ev.raw_text if self.keep_raw_text else None,
        )
        conn = self._conn()
        cur = conn.execute(
            f"INSERT OR IGNORE INTO feedback ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))})",
            row,
        )
        return cur.rowcount == 1

    def delete_session(self, session_id: str) -> int:
        cur = self._conn().execute("DELETE FROM feedback WHERE session_id = ?", (session_id,))
        return cur.rowcount

    def purge(self, older_than_days: float, now: float | None = None) -> int:
        if older_than_days < 0:
            raise FeedbackError("--older-than must be a number of days >= 0")
        cutoff = (now or time.time()) - older_than_days * 86400
        return self._conn().execute("DELETE FROM feedback WHERE created_at < ?", (cutoff,)).rowcount

    # -- reading -------------------------------------------------------------------------
    def rows(self, session_id: str | None = None) -> list[dict]:
        sql = f"SELECT {', '.join(COLUMNS)} FROM feedback"
        args: tuple = ()
        if session_id is not None:
            sql += " WHERE session_id = ?"
            args = (session_id,)
        out = []
        for values in self._conn().execute(sql + " ORDER BY id", args):
            row = dict(zip(COLUMNS, values))
            row["profile"] = json.loads(row["profile"])
            row["shown"] = json.loads(row["shown"])
            out.append(row)
        return out

    def count(self) -> int:
        return self._conn().execute("SELECT COUNT(*) FROM feedback").fetchone()[0]

    def stats(self) -> dict:
        rows = self.rows()
        likes = Counter((r["item_kind"], r["item_id"]) for r in rows if r["rating"] > 0)
        dislikes = Counter((r["item_kind"], r["item_id"]) for r in rows if r["rating"] < 0)
        items = sorted(set(likes) | set(dislikes), key=lambda k: -(likes[k] + dislikes[k]))
        return {
            "events": len(rows),
            "sessions": len({r["session_id"] for r in rows}),
            "by_rating": {"like": sum(likes.values()), "dislike": sum(dislikes.values())},
            "by_model_version": dict(Counter(r["model_version"] for r in rows)),
            "by_item": [
                {"kind": k, "id": i, "likes": likes[(k, i)], "dislikes": dislikes[(k, i)]} for k, i in items
            ],
        }

    def export_for_training(self) -> list[dict]:
        """Events without session ids: each session is re-keyed to an opaque ``user`` number.

        The numbering is by first appearance in this export only, so it cannot be joined back to
        a session id; it lets the feedback loop cap how much one person contributes.
        """
        keys: dict[str, int] = {}
        out = []
        for r in self.rows():
            user = keys.setdefault(r["session_id"], len(keys))
            out.append(
                {
                    "user": user,
                    "created_at": r["created_at"],
                    "model_version": r["model_version"],
                    "profile": r["profile"],
                    "shown": r["shown"],
                    "item_kind": r["item_kind"],
                    "item_id": r["item_id"],
                    "rating": r["rating"],
                }
            )
        return out


class SessionExports:
    """The "download my data" files: one per session, in a private folder, never kept for long.

    The folder is made by :func:`tempfile.mkdtemp` (mode 0700) inside ``parent`` (the demo passes
    gradio's cache folder, so gradio serves the file where it is instead of copying it). Each file
    (mode 0600) sits in a folder of its own with a random name. A session has at most one file: a
    new export replaces the last one. Files go when the demo says the download was served
    (:meth:`remove`), when the person deletes their data, after ``max_age_s`` (swept on every
    export, for API users who never trigger the removal step) and at shutdown (:meth:`close`,
    also registered with :mod:`atexit`).
    """

    FILENAME = "careerpath-my-data.json"

    def __init__(self, parent: str | Path | None = None, max_age_s: float = 600):
        parent = Path(parent or tempfile.gettempdir())
        parent.mkdir(parents=True, exist_ok=True)
        self.root = Path(tempfile.mkdtemp(prefix="careerpath-exports-", dir=parent))
        self.max_age_s = max_age_s
        self._files: dict[str, tuple[Path, float]] = {}
        self._lock = threading.Lock()
        atexit.register(self.close)

    def write(self, session_id: str, payload: dict) -> Path:
        """A fresh JSON file of ``payload`` for ``session_id`` (replacing its previous one)."""
        self.remove(session_id)
        self.sweep()
        folder = Path(tempfile.mkdtemp(dir=self.root))
        path = folder / self.FILENAME
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(payload, f, indent=1, ensure_ascii=False)
        with self._lock:
            self._files[session_id] = (path, time.time())
        return path

    def remove(self, session_id: str) -> bool:
        """Delete the session's export, if any; True when there was one."""
        with self._lock:
            entry = self._files.pop(session_id, None)
        if entry is None:
            return False
        shutil.rmtree(entry[0].parent, ignore_errors=True)
        return True

    def sweep(self, now: float | None = None) -> int:
        """Delete exports older than ``max_age_s``; how many went."""
        now = time.time() if now is None else now
        with self._lock:
            old = [s for s, (_, t) in self._files.items() if now - t > self.max_age_s]
        return sum(self.remove(s) for s in old)

    def files(self) -> list[Path]:
        """Every file under the export folder (what is on disk, not what this object remembers)."""
        return sorted(p for p in self.root.rglob("*") if p.is_file()) if self.root.exists() else []

    def close(self) -> None:
        with self._lock:
            self._files.clear()
        shutil.rmtree(self.root, ignore_errors=True)


def write_jsonl_atomic(rows: list[dict], path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        for r in rows:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    return path


def build_parser() -> argparse.ArgumentParser:
    from careerpath.core.cli_common import ArgumentParser, HelpFormatter, add_json_flag

    parser = ArgumentParser(
        prog="careerpath feedback", description=__doc__.split("\n\n")[0], formatter_class=HelpFormatter
    )
    sub = parser.add_subparsers(dest="cmd", required=True, metavar="<command>")
    for name, helptext in (
        ("stats", "counts by item, rating and model version"),
        ("export", "write the events as JSONL for training (no session ids)"),
        ("delete", "delete every event of one session"),
        ("purge", "delete events older than a number of days (the retention period)"),
        ("pull", "merge the stores a Space pushed to a Hub dataset repo into --db"),
    ):
        p = sub.add_parser(name, help=helptext, description=helptext, formatter_class=HelpFormatter)
        p.add_argument("--db", default=DEFAULT_DB, help="feedback store (SQLite) the demo writes")
        if name == "export":
            p.add_argument("--out", required=True, help="JSONL file to write (replaced atomically)")
        if name == "delete":
            p.add_argument("--session", required=True, help="session id (the demo shows it to the person)")
        if name == "purge":
            p.add_argument("--older-than", type=float, required=True, help="age in days; older events go")
        if name == "pull":
            p.add_argument(
                "--repo", required=True, help="the dataset repo of CAREERPATH_FEEDBACK_REPO (user/name)"
            )
        add_json_flag(p)
    return parser


def main(argv: list[str] | None = None) -> int:
    """``careerpath feedback stats|export|delete|purge|pull --db PATH [...] [--json]``; 0 ok, 2 bad input."""
    from careerpath.core.cli_common import print_json

    args = build_parser().parse_args(argv)
    if args.cmd == "pull":  # the one command that may create the store
        from careerpath.data.feedback_hub import pull

        try:
            files, added = pull(args.repo, args.db)
        except (OSError, ValueError) as e:  # huggingface_hub's errors are OSErrors
            print(f"error: could not pull {args.repo}: {type(e).__name__}: {str(e)[:200]}", file=sys.stderr)
            return 2
        if args.json:
            print_json({"repo": args.repo, "db": str(args.db), "run_files": files, "added": added})
        else:
            print(f"merged {added} new event(s) from {files} run file(s) of {args.repo} into {args.db}")
        return 0
    if not Path(args.db).is_file():  # never create an empty store by asking about one
        print(
            f"error: --db {args.db}: no feedback store there; the demo creates it (`careerpath serve`)",
            file=sys.stderr,
        )
        return 2
    try:
        store = FeedbackStore(args.db)
        if args.cmd == "stats":
            stats = store.stats()
            if args.json:
                print_json(stats)
            else:
                print(f"{stats['events']} events from {stats['sessions']} sessions: {stats['by_rating']}")
                print(f"by model version: {stats['by_model_version']}")
                for it in stats["by_item"][:20]:
                    print(f"  {it['kind']:7} {it['id']:30} +{it['likes']} -{it['dislikes']}")
        elif args.cmd == "export":
            rows = store.export_for_training()
            write_jsonl_atomic(rows, args.out)
            if args.json:
                print_json({"out": str(args.out), "events": len(rows)})
            else:
                print(f"wrote {len(rows)} events to {args.out} (sessions re-keyed, no session ids)")
        elif args.cmd == "delete":
            n = store.delete_session(args.session)
            if args.json:
                print_json({"session": args.session, "deleted": n})
            else:
                print(f"deleted {n} event(s) of session {args.session}")
        else:
            n = store.purge(args.older_than)
            if args.json:
                print_json({"older_than_days": args.older_than, "purged": n})
            else:
                print(f"purged {n} event(s) older than {args.older_than:g} days")
    except FeedbackError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
