"""careerpath.core.atomic: the one way a folder is written (replace, keep, merge, and nothing on an error)."""

import os
import stat

import pytest

from careerpath.core.atomic import atomic_dir


def _leftovers(parent, name):
    return sorted(p.name for p in parent.iterdir() if p.name.startswith(f".{name}."))


def test_replaces_the_old_folder_whole_with_normal_permissions(tmp_path):
    out = tmp_path / "sub" / "data"
    out.mkdir(parents=True)
    (out / "old.txt").write_text("old")
    (out / "same.txt").write_text("old")
    with atomic_dir(out) as tmp:
        assert tmp.parent == out.parent and tmp != out
        (tmp / "same.txt").write_text("new")
        assert (out / "old.txt").exists()  # nothing changes before the block ends
    assert sorted(p.name for p in out.iterdir()) == ["same.txt"]
    assert (out / "same.txt").read_text() == "new"
    assert _leftovers(out.parent, "data") == []
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(out.stat().st_mode) == 0o777 & ~umask  # not mkdtemp's private 0700


def test_an_error_leaves_the_old_folder_and_no_temporary_one(tmp_path):
    out = tmp_path / "model"
    out.mkdir()
    (out / "weights").write_text("v1")
    with pytest.raises(RuntimeError, match="half way"):
        with atomic_dir(out) as tmp:
            (tmp / "weights").write_text("v2")
            raise RuntimeError("half way")
    assert (out / "weights").read_text() == "v1"
    assert _leftovers(tmp_path, "model") == []


def test_keep_carries_entries_of_the_old_folder(tmp_path):
    out = tmp_path / "run"
    (out / "checkpoints").mkdir(parents=True)
    (out / "checkpoints" / "step-2").write_text("ckpt")
    (out / "model.safetensors").write_text("v1")
    (out / "stale.json").write_text("{}")
    with atomic_dir(out, keep=("checkpoints", "logs")) as tmp:
        (tmp / "model.safetensors").write_text("v2")
    assert sorted(p.name for p in out.iterdir()) == ["checkpoints", "model.safetensors"]
    assert (out / "checkpoints" / "step-2").read_text() == "ckpt"
    assert (out / "model.safetensors").read_text() == "v2"


def test_merge_swaps_files_in_and_leaves_the_rest(tmp_path):
    out = tmp_path / "catalog"
    out.mkdir()
    (out / "courses.csv").write_text("old")
    (out / "notes.md").write_text("mine")
    with atomic_dir(out, merge=True) as tmp:
        (tmp / "courses.csv").write_text("new")
        (tmp / "skills.csv").write_text("new")
    assert {p.name: p.read_text() for p in out.iterdir()} == {
        "courses.csv": "new",
        "skills.csv": "new",
        "notes.md": "mine",
    }
    assert _leftovers(tmp_path, "catalog") == []
    fresh = tmp_path / "fresh"
    with atomic_dir(fresh, merge=True) as tmp:
        (tmp / "a.csv").write_text("a")
    assert [p.name for p in fresh.iterdir()] == ["a.csv"]
