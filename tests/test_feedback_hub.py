"""Feedback on a Space without persistent storage: the store is pushed to a Hub dataset repo
(CommitScheduler) and pulled back, against a local Hub that keeps uploads in the HF cache layout."""

import hashlib
import shutil
import sqlite3
from concurrent.futures import Future
from pathlib import Path

import huggingface_hub
import pytest

from careerpath.data import feedback
from careerpath.data.feedback import FeedbackEvent, FeedbackStore
from careerpath.data.feedback_hub import HubFeedbackSync


class LocalDatasetHub:
    """Stands in for ``HfApi`` in CommitScheduler: uploads become snapshots of a local HF cache."""

    def __init__(self, cache: Path):
        self.cache, self.commits, self.created = cache, 0, []

    def create_repo(self, repo_id, repo_type=None, private=None, exist_ok=False, **_):
        self.created.append((repo_id, repo_type, private))
        return type("RepoUrl", (), {"repo_id": repo_id})()

    def run_as_future(self, fn, *args, **kwargs):  # the scheduler's queue, run at once
        fut = Future()
        fut.set_result(fn(*args, **kwargs))
        return fut

    def _root(self, repo_id):
        return self.cache / f"datasets--{repo_id.replace('/', '--')}"

    def snapshot(self, repo_id) -> Path:
        root = self._root(repo_id)
        return root / "snapshots" / (root / "refs" / "main").read_text()

    def upload_file(self, path_or_fileobj, path_in_repo, repo_id, repo_type, commit_message=""):
        assert repo_type == "dataset"
        root = self._root(repo_id)
        self.commits += 1
        sha = hashlib.sha1(f"{repo_id}:{self.commits}".encode()).hexdigest()
        new = root / "snapshots" / sha
        if (root / "refs" / "main").is_file():
            shutil.copytree(self.snapshot(repo_id), new)
        (new / path_in_repo).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path_or_fileobj, new / path_in_repo)
        (root / "refs").mkdir(parents=True, exist_ok=True)
        (root / "refs" / "main").write_text(sha)
        return commit_message


@pytest.fixture
def local_hub(tmp_path, monkeypatch):
    cache = tmp_path / "hub_cache"
    cache.mkdir()
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(cache))
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    return LocalDatasetHub(cache)


def _event(session: str, item: str, rating: int = 1) -> FeedbackEvent:
    return FeedbackEvent(session_id=session, item_kind="course", item_id=item, rating=rating)


def _ids(path: Path) -> set[tuple[str, str]]:
    conn = sqlite3.connect(path)
    try:
        return set(conn.execute("SELECT session_id, item_id FROM feedback"))
    finally:
        conn.close()


def test_ratings_survive_a_restart_through_the_dataset_repo(tmp_path, local_hub, capsys):
    # first run of the Space: two people rate, the scheduler pushes
    store = FeedbackStore(tmp_path / "run1" / "feedback.sqlite")
    sync = HubFeedbackSync(store, "me/demo-feedback", hf_api=local_hub)
    try:
        assert local_hub.created == [("me/demo-feedback", "dataset", True)]  # private by default
        assert sync.trigger().result() is None and local_hub.commits == 0  # nothing to push yet
        store.add(_event("s1", "c-python"))
        store.add(_event("s2", "c-sql", -1))
        sync.trigger().result()
        assert sync.trigger().result() is None and local_hub.commits == 1  # unchanged: no empty commit
        pushed = local_hub.snapshot("me/demo-feedback") / sync.run_name
        assert _ids(pushed) == {("s1", "c-python"), ("s2", "c-sql")}
        # "delete my data" reaches the pushed copy at the next push
        store.delete_session("s2")
        sync.trigger().result()
        assert _ids(local_hub.snapshot("me/demo-feedback") / sync.run_name) == {("s1", "c-python")}
    finally:
        sync.stop()
    # the Space restarts with an empty disk: a new run file, the earlier one is kept
    store2 = FeedbackStore(tmp_path / "run2" / "feedback.sqlite")
    sync2 = HubFeedbackSync(store2, "me/demo-feedback", hf_api=local_hub)
    try:
        store2.add(_event("s3", "c-linux"))
        sync2.trigger().result()
    finally:
        sync2.stop()
    assert sync2.run_name != sync.run_name
    assert len(list((local_hub.snapshot("me/demo-feedback") / "feedback").glob("*.sqlite"))) == 2
    # the operator pulls both runs into one store (twice: nothing is duplicated)
    db = tmp_path / "merged.sqlite"
    assert feedback.main(["pull", "--repo", "me/demo-feedback", "--db", str(db)]) == 0
    assert "merged 2 new event(s) from 2 run file(s)" in capsys.readouterr().out
    assert feedback.main(["pull", "--repo", "me/demo-feedback", "--db", str(db)]) == 0
    assert "merged 0 new event(s)" in capsys.readouterr().out
    assert _ids(db) == {("s1", "c-python"), ("s3", "c-linux")}


def test_pull_of_an_unknown_repo_is_a_clear_error(tmp_path, local_hub, capsys):
    assert feedback.main(["pull", "--repo", "me/nothing", "--db", str(tmp_path / "x.sqlite")]) == 2
    err = capsys.readouterr().err
    assert "could not pull me/nothing" in err and "Traceback" not in err
