"""Feedback that outlives a Space without persistent storage: the store is mirrored to a Hub dataset repo.

A free Space has no ``/data``: its disk is wiped at every restart, and the ratings with it. With
``CAREERPATH_FEEDBACK_REPO=user/name`` (``careerpath publish-space --feedback-repo``) the Space
keeps its SQLite store locally and a :class:`huggingface_hub.CommitScheduler` uploads a consistent
copy of it (SQLite's online backup, taken under the scheduler's lock) every few minutes and at
exit, as ``feedback/<run>.sqlite`` in that (private) dataset repo: one file per run of the Space,
so a restart never overwrites what an earlier run pushed, and a deleted session disappears from its
run's file at the next push. ``careerpath feedback pull --repo user/name --db PATH`` merges every
run's file into one local store for ``feedback stats``/``export`` and retraining.
"""

from __future__ import annotations

import logging
import sqlite3
import tempfile
import time
import uuid
from pathlib import Path

from huggingface_hub import CommitScheduler

from careerpath.data.feedback import FeedbackStore

log = logging.getLogger(__name__)
PREFIX = "feedback"


class HubFeedbackSync(CommitScheduler):
    """Push a snapshot of ``store`` to the dataset repo ``repo_id`` every ``every`` minutes."""

    def __init__(
        self, store: FeedbackStore, repo_id: str, every: float = 5, private: bool = True, hf_api=None
    ):
        self.store = store
        self.run_name = (
            f"{PREFIX}/{time.strftime('%Y%m%dT%H%M%S', time.gmtime())}-{uuid.uuid4().hex[:8]}.sqlite"
        )
        self._pushed = None  # (count, sum of row ids) at the last push: any add or delete changes it
        staging = tempfile.mkdtemp(prefix="careerpath-feedback-sync-")
        # CommitScheduler's thread pushes once at start, before its own __init__ has set this flag
        self._CommitScheduler__stopped = False
        super().__init__(
            repo_id=repo_id,
            repo_type="dataset",
            folder_path=staging,
            every=every,
            private=private,
            hf_api=hf_api,
        )

    def push_to_hub(self):
        with self.lock:
            state = (
                self.store._conn().execute("SELECT COUNT(*), COALESCE(SUM(id), 0) FROM feedback").fetchone()
            )
            if state == self._pushed or (self._pushed is None and state[0] == 0):
                return None  # nothing changed since the last push
            n = state[0]
            snapshot = self.folder_path / "snapshot.sqlite"
            snapshot.unlink(missing_ok=True)
            src, dst = sqlite3.connect(self.store.path), sqlite3.connect(snapshot)
            try:
                src.backup(dst)  # a consistent copy even while the demo writes
            finally:
                src.close()
                dst.close()
            info = self.api.upload_file(
                path_or_fileobj=str(snapshot),
                path_in_repo=self.run_name,
                repo_id=self.repo_id,
                repo_type="dataset",
                commit_message=f"careerpath feedback: {n} events",
            )
            self._pushed = state
            log.info("pushed %d feedback events to %s/%s", n, self.repo_id, self.run_name)
            return info


def merge_stores(store: FeedbackStore, files: list[Path]) -> int:
    """Add the events of other stores' files to ``store`` (an event id is stored once); returns how many were new."""
    from careerpath.data.feedback import COLUMNS

    added = 0
    for f in files:
        src = sqlite3.connect(f"file:{f}?mode=ro", uri=True)
        try:
            rows = src.execute(f"SELECT {', '.join(COLUMNS)} FROM feedback ORDER BY id").fetchall()
        except sqlite3.DatabaseError as e:
            raise ValueError(f"{f}: not a careerpath feedback store ({e})") from None
        finally:
            src.close()
        conn = store._conn()
        placeholders = ", ".join("?" * len(COLUMNS))
        conn.execute("BEGIN")
        for row in rows:
            added += conn.execute(
                f"INSERT OR IGNORE INTO feedback ({', '.join(COLUMNS)}) VALUES ({placeholders})", row
            ).rowcount
        conn.execute("COMMIT")
    return added


def pull(repo_id: str, db: str | Path) -> tuple[int, int]:
    """Download the repo's run files and merge them into ``db``; (files, new events)."""
    from huggingface_hub import snapshot_download

    folder = Path(snapshot_download(repo_id, repo_type="dataset", allow_patterns=[f"{PREFIX}/*.sqlite"]))
    files = sorted((folder / PREFIX).glob("*.sqlite"))
    return len(files), merge_stores(FeedbackStore(db), files)
