"""The one split reader (datasets.load_dataset("json")), and data build's DatasetDict outputs."""

import json
from pathlib import Path

import datasets
import pytest
from helpers_hub import LocalHub

from careerpath.app import cli
from careerpath.data.splits import load_split, load_splits
from careerpath.model import hub

ROOT = Path(__file__).resolve().parent.parent


def _json_rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.open(encoding="utf-8") if line.strip()]


def test_rows_equal_the_files_and_variable_key_fields_keep_their_keys(tiny_dataset):
    for split in ("train", "test"):
        rows, want = load_split(tiny_dataset, split), _json_rows(tiny_dataset / f"{split}.jsonl")
        assert len(rows) == len(want) and [r["user_id"] for r in rows] == [r["user_id"] for r in want]
        for got, ref in zip(rows, want):
            assert got["input_text"] == ref["input_text"] and got["skills_gained"] == ref["skills_gained"]
            # course id -> probability: the same keys (no column per course filled with None), values
            # equal up to float parsing
            assert set(got["probs"]["course"]) == set(ref["probs"]["course"])
            for k, v in ref["probs"]["course"].items():
                assert got["probs"]["course"][k] == pytest.approx(v, rel=1e-12)
    assert load_split(tiny_dataset, "train", limit=3) == load_split(tiny_dataset, "train")[:3]
    dd = load_splits(tiny_dataset)
    assert isinstance(dd, datasets.DatasetDict) and set(dd) == {"train", "validation", "test"}


def test_bad_files_are_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="careerpath data build"):
        load_split(tmp_path, "train")
    (tmp_path / "test.jsonl").write_text("")
    assert load_split(tmp_path, "test") == []
    (tmp_path / "train.jsonl").write_text('{"a": 1}\n{"a": \n')
    with pytest.raises(ValueError, match="train.jsonl.*not valid JSON"):
        load_split(tmp_path, "train")
    with pytest.raises(ValueError, match="expected one of"):
        load_split(tmp_path, "dev")


def test_data_build_saves_and_pushes_a_dataset_dict(tiny_catalog_dir, tmp_path, monkeypatch, capsys):
    local = LocalHub(tmp_path / "cache")
    monkeypatch.setattr(hub, "HfApi", lambda: local)
    out, arrow = tmp_path / "data", tmp_path / "arrow"
    argv = ["data", "build", "--config", str(ROOT / "configs" / "data" / "tiny.yaml"), "--catalog"]
    argv += [str(tiny_catalog_dir), "--out", str(out), "--quiet"]
    assert cli.main([*argv, "--push-to-hub", "not an id"]) == 2 and not out.exists()  # checked first
    assert cli.main([*argv, "--save-to-disk", str(arrow), "--push-to-hub", "me/tiny-data"]) == 0
    saved = datasets.load_from_disk(str(arrow))
    assert saved["test"].to_list() == load_split(out, "test")
    pushed = local.files("me/tiny-data", "dataset")
    assert (pushed / "README.md").read_text() == (out / "README.md").read_text()
    assert datasets.load_dataset(str(pushed))["train"].num_rows == len(load_split(out, "train"))
    assert "pushed the dataset" in capsys.readouterr().out
    (tmp_path / "precious").mkdir()
    fresh = [*argv[:-3], "--out", str(tmp_path / "data2"), "--quiet"]
    assert cli.main([*fresh, "--save-to-disk", str(tmp_path / "precious")]) == 2
    assert "not a saved DatasetDict" in capsys.readouterr().err and (tmp_path / "precious").is_dir()
    assert not (tmp_path / "data2").exists()  # refused before the build

    def offline(*a, **k):
        raise ConnectionError("no network")

    monkeypatch.setattr(hub, "push_dataset", offline)
    assert cli.main([*fresh, "--push-to-hub", "me/tiny-data"]) == 1
    err = capsys.readouterr().err
    assert "upload failed (ConnectionError" in err and "Traceback" not in err
    assert (tmp_path / "data2" / "train.jsonl").is_file()  # the build is kept
