"""Model folders record where their dataset is in a way that works from any directory, and every
command that needs the dataset takes --data (simulate-feedback from another working directory)."""

import json
import shutil
from pathlib import Path

import yaml

from careerpath.app import cli
from careerpath.data.splits import resolve_data_dir


def _with_data_dir(model: Path, dest: Path, data_dir: str) -> Path:
    shutil.copytree(model, dest)
    cfg = yaml.safe_load((dest / "config.yaml").read_text())
    cfg["data"]["data_dir"] = data_dir
    (dest / "config.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    return dest


def test_a_trained_model_records_its_dataset_absolutely(tiny_model, tiny_dataset, tmp_path, monkeypatch):
    recorded = yaml.safe_load((tiny_model / "config.yaml").read_text())["data"]["data_dir"]
    assert Path(recorded).is_absolute() and Path(recorded) == tiny_dataset.resolve()
    monkeypatch.chdir(tmp_path)
    assert resolve_data_dir(tiny_model) == tiny_dataset.resolve()
    # an older model folder with a model-relative path resolves beside the model
    moved = tmp_path / "models" / "m"
    shutil.copytree(tiny_dataset, tmp_path / "models" / "data")
    _with_data_dir(tiny_model, moved, "../data")
    assert resolve_data_dir(moved) == (tmp_path / "models" / "data").resolve()


def test_simulate_feedback_runs_from_any_directory(tiny_model, tiny_dataset, tmp_path, monkeypatch, capsys):
    # a model trained elsewhere with a cwd-relative dataset path that means nothing from here
    model = _with_data_dir(tiny_model, tmp_path / "model", "outputs/data")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    argv = ["simulate-feedback", "--model", str(model), "--users", "4", "--rounds", "1", "--steps", "1"]
    argv += ["--test-examples", "5", "--out", "sim"]
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert "--data" in err and "outputs/data" in err and "Traceback" not in err
    assert not (elsewhere / "sim").exists()  # nothing written before the inputs are checked
    assert cli.main([*argv, "--data", str(tiny_dataset)]) == 0
    result = json.loads((elsewhere / "sim" / "results.json").read_text())
    assert [h["round"] for h in result["history"]] == [0, 1]
    retrained = yaml.safe_load((elsewhere / "sim" / "model_round1" / "config.yaml").read_text())
    assert Path(retrained["data"]["data_dir"]) == tiny_dataset.resolve()
    assert cli.main([*argv[:-2], "--out", "sim2", "--data", str(elsewhere)]) == 2
    assert "not a dataset folder" in capsys.readouterr().err
