import json

import pytest

from careerpath.cli import main
from data_prep.build import SPLITS, build_dataset, load_data_config


def _rows(path):
    return [json.loads(line) for line in open(path)]


def test_build_outputs_and_split_by_user(tiny_dataset):
    stats = json.loads((tiny_dataset / "stats.json").read_text())
    for key in ("users", "examples", "catalog", "oracle_acc"):
        assert key in stats
    assert set(stats["oracle_acc"]) >= {"next_course", "next_job"}
    users = {s: {r["user_id"] for r in _rows(tiny_dataset / f"{s}.jsonl")} for s in SPLITS}
    assert not users["train"] & users["test"] and not users["train"] & users["validation"]
    assert not users["validation"] & users["test"]
    assert sum(stats["examples"].values()) == sum(len(_rows(tiny_dataset / f"{s}.jsonl")) for s in SPLITS)
    assert (tiny_dataset / "catalog" / "courses.csv").exists()
    card = (tiny_dataset / "README.md").read_text()
    assert card.startswith("---\nlicense:") and "task_categories" in card


def test_rows_are_consistent(tiny_dataset):
    from data_prep.textformat import parse_input, parse_target

    for row in _rows(tiny_dataset / "train.jsonl"):
        p, t = parse_input(row["input_text"]), parse_target(row["target_text"])
        assert p.job == row["job"] and p.skills == row["skills"] and p.courses == row["courses"]
        assert t.next_course == row["next_course"] and t.next_job == row["next_job"]
        assert row["next_course_id"] not in row["course_ids"]
        assert not set(row["skills_gained_ids"]) & set(row["skill_ids"])
        for probs in (row["probs"], row["probs_visible"]):
            total = sum(probs["course"].values()) + probs["course_other"]
            assert abs(total - 1) < 1e-3 and abs(sum(probs["job"].values()) - 1) < 1e-3
            assert row["next_course_id"] in probs["course"]


def test_same_seed_same_bytes_other_seed_differs(tiny_catalog_dir, tmp_path):
    cfg = load_data_config(None, {"catalog": str(tiny_catalog_dir), "users": 60, "seed": 3})
    build_dataset(cfg, tmp_path / "a", progress=False)
    build_dataset(cfg, tmp_path / "b", progress=False)
    for name in ("train.jsonl", "validation.jsonl", "test.jsonl", "stats.json", "README.md"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    other = load_data_config(None, {"catalog": str(tiny_catalog_dir), "users": 60, "seed": 4})
    build_dataset(other, tmp_path / "c", progress=False)
    assert (tmp_path / "a" / "train.jsonl").read_bytes() != (tmp_path / "c" / "train.jsonl").read_bytes()


def test_interrupted_build_leaves_previous_dataset_untouched(tiny_catalog_dir, tmp_path, monkeypatch):
    cfg = load_data_config(None, {"catalog": str(tiny_catalog_dir), "users": 30})
    out = tmp_path / "ds"
    build_dataset(cfg, out, progress=False)
    before = (out / "train.jsonl").read_bytes()

    import data_prep.build as build

    def boom(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(build, "dataset_card", boom)
    with pytest.raises(KeyboardInterrupt):
        build_dataset(
            load_data_config(None, {"catalog": str(tiny_catalog_dir), "users": 50}), out, progress=False
        )
    assert (out / "train.jsonl").read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["ds"]


def test_loadable_with_datasets(tiny_dataset):
    from datasets import load_dataset

    ds = load_dataset("json", data_files={s: str(tiny_dataset / f"{s}.jsonl") for s in SPLITS})
    assert set(ds) == set(SPLITS) and "input_text" in ds["train"].column_names


def test_config_errors_name_the_key(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("synthesis: {userz: 3}\n")
    with pytest.raises(ValueError, match="userz"):
        load_data_config(bad)
    assert main(["data", "build", "--config", str(bad), "--out", str(tmp_path / "x")]) == 2


def test_cli_build_on_tiny_config(tmp_path, capsys):
    from conftest import ROOT

    code = main(
        [
            "data",
            "build",
            "--config",
            str(ROOT / "configs/data/tiny.yaml"),
            "--out",
            str(tmp_path / "d"),
            "--quiet",
            "--catalog",
            str(ROOT / "tests/assets/tiny_catalog"),
        ]
    )
    assert code == 0 and "oracle ceiling" in capsys.readouterr().out


def test_built_dataset_has_normal_permissions(tiny_catalog_dir, tmp_path):
    """mkdtemp's private 0700 must not leak into the finished dataset folder."""
    import os

    from conftest import ROOT

    cfg = load_data_config(
        ROOT / "configs" / "data" / "tiny.yaml", {"catalog": str(tiny_catalog_dir), "users": 20}
    )
    old = os.umask(0o022)
    try:
        out = tmp_path / "data"
        build_dataset(cfg, out, progress=False)
    finally:
        os.umask(old)
    assert out.stat().st_mode & 0o777 == 0o755
