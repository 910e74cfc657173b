"""Crashes in the middle of work: kill -9 during training and during ``data build``, and damaged
model files. (kill -9 during a feedback write is in tests/test_feedback.py.)"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from careerpath.model.modeling import ModelFileError, load_for_inference
from tests.conftest import small_t5_args

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "tests" / "assets" / "tiny_dataset"
CATALOG = ROOT / "tests" / "assets" / "tiny_catalog"
TRAIN = ["--config", str(ROOT / "configs" / "tiny_t5.yaml"), "--data.data-dir", str(DATA)]
TRAIN += small_t5_args(max_eval=4, max_new_tokens=16)
TRAIN += [
    "--train.log-every",
    "1",
    "--epochs",
    "30",
    "--train.max-steps",
    "80",
    "--train.checkpoint-every",
    "10",
]
TRAIN += ["--train.eval-every-epoch", "false"]
ENV = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}


def _popen(args: list[str], log: Path) -> subprocess.Popen:
    return subprocess.Popen(
        args, cwd=ROOT, env=ENV, stdout=log.open("w"), stderr=subprocess.STDOUT, start_new_session=True
    )


def _wait_for(pred, proc: subprocess.Popen, timeout: float = 120.0) -> bool:
    """Poll ``pred`` every 10 ms; False when ``proc`` ended first."""
    end = time.time() + timeout
    while time.time() < end:
        if pred():
            return True
        if proc.poll() is not None:
            return pred()
        time.sleep(0.01)
    raise TimeoutError("condition not reached")


def _kill9(proc: subprocess.Popen) -> int:
    os.killpg(proc.pid, signal.SIGKILL)
    return proc.wait(timeout=30)


def _checkpoints(out: Path) -> list[Path]:
    return sorted((out / "checkpoints").glob("step_*/careerpath_state.json"))


# ---------------------------------------------------------------- training


@pytest.mark.slow
def test_kill_9_during_training_then_resume_reaches_the_same_weights(tmp_path):
    full_out, cut_out = tmp_path / "full", tmp_path / "cut"
    # the uninterrupted run and the one to be killed run side by side
    full = _popen(
        [sys.executable, "train.py", *TRAIN, "--train.output-dir", str(full_out)], tmp_path / "full.log"
    )
    cut = _popen(
        [sys.executable, "train.py", *TRAIN, "--train.output-dir", str(cut_out)], tmp_path / "cut.log"
    )
    assert _wait_for(lambda: len(_checkpoints(cut_out)) >= 2, cut), (tmp_path / "cut.log").read_text()[-3000:]
    assert _kill9(cut) == -signal.SIGKILL
    done = [int(p.parent.name.split("_")[1]) for p in _checkpoints(cut_out)]
    assert done and max(done) < 80, done  # killed mid-run
    assert not (cut_out / "model.safetensors").exists()  # nothing half-written where the model goes
    assert full.wait(timeout=300) == 0, (tmp_path / "full.log").read_text()[-3000:]

    resumed = subprocess.run(
        [
            sys.executable,
            "train.py",
            *TRAIN,
            "--train.output-dir",
            str(cut_out),
            "--train.resume-from-checkpoint",
            "latest",
        ],
        cwd=ROOT,
        env=ENV,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "resumed from" in resumed.stderr and f"step_{max(done)}" in resumed.stderr
    a, b = (json.loads((d / "metrics.json").read_text())["train_loss"] for d in (full_out, cut_out))
    assert [s for s, _ in b] == list(range(1, 81))
    assert [v for _, v in a] == pytest.approx([v for _, v in b], abs=1e-5)
    wa, wb = load_file(full_out / "model.safetensors"), load_file(cut_out / "model.safetensors")
    assert wa.keys() == wb.keys()
    worst = max((wa[k] - wb[k]).abs().max().item() for k in wa)
    assert worst <= 1e-5, f"largest weight difference {worst}"
    assert not torch.equal(wa["shared.weight"], torch.zeros_like(wa["shared.weight"]))


# ---------------------------------------------------------------- data build


def _digest(folder: Path) -> dict[str, str]:
    return {
        p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def _is_complete(folder: Path) -> bool:
    """A finished dataset: every split and its stats, with the stats matching the files."""
    stats = json.loads((folder / "stats.json").read_text())
    for split, n in stats["examples"].items():
        rows = (folder / f"{split}.jsonl").read_text(encoding="utf-8").splitlines()
        if len(rows) != n or not all(json.loads(r)["target_text"] for r in rows):
            return False
    return (folder / "catalog" / "jobs.csv").is_file() and (folder / "README.md").is_file()


def _build(out: Path, users: int, log: Path) -> subprocess.Popen:
    args = [sys.executable, "-m", "careerpath.app.cli", "data", "build", "--config", "configs/data/tiny.yaml"]
    return _popen([*args, "--catalog", str(CATALOG), "--users", str(users), "--out", str(out)], log)


def _temp_dirs(out: Path) -> list[Path]:
    return list(out.parent.glob(f".{out.name}.tmp-*"))


@pytest.mark.slow
def test_kill_9_during_data_build_leaves_the_old_dataset_or_nothing(tmp_path):
    out = tmp_path / "data"
    first = subprocess.run(
        [sys.executable, "-m", "careerpath.app.cli", "data", "build", "--config", "configs/data/tiny.yaml"]
        + ["--catalog", str(CATALOG), "--users", "60", "--out", str(out)],
        cwd=ROOT,
        env=ENV,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert first.returncode == 0, first.stderr
    before = _digest(out)
    assert _is_complete(out)

    # kill while users are being written, then just before the swap (stats.json is the last file)
    moments = {
        "writing": lambda: any((t / "train.jsonl").exists() for t in _temp_dirs(out)),
        "finishing": lambda: any((t / "stats.json").exists() for t in _temp_dirs(out)),
    }
    for name, moment in moments.items():
        proc = _build(out, 1500, tmp_path / f"{name}.log")
        if _wait_for(moment, proc):
            if name == "writing":
                time.sleep(0.5)
            code = _kill9(proc)
        else:
            code = proc.wait()
        assert code in (-signal.SIGKILL, 0), (tmp_path / f"{name}.log").read_text()[-2000:]
        if out.exists():  # never a mix: the old dataset byte for byte, or a complete new one
            # (a kill that lands just after the atomic swap leaves the complete new one: no mix)
            assert _digest(out) == before or _is_complete(out), name
        else:  # killed between the two renames: the old dataset waits, whole, beside it
            (old,) = out.parent.glob(f".{out.name}.old-*")
            assert _digest(old) == before
        assert code == -signal.SIGKILL or _is_complete(out)

    # a fresh target killed mid-build: no folder at all under the target name
    fresh = tmp_path / "fresh"
    proc = _build(fresh, 1500, tmp_path / "fresh.log")
    assert _wait_for(lambda: any((t / "train.jsonl").exists() for t in _temp_dirs(fresh)), proc)
    assert _kill9(proc) == -signal.SIGKILL
    assert not fresh.exists()
    # and the next build succeeds, whatever the killed runs left behind
    done = _build(out, 60, tmp_path / "again.log")
    assert done.wait(timeout=120) == 0 and _is_complete(out)


# ---------------------------------------------------------------- damaged model files


def _damage(path: Path, how: str) -> None:
    data = path.read_bytes()
    if how == "truncated":
        path.write_bytes(data[: len(data) // 2])
    elif how == "empty":
        path.write_bytes(b"")
    elif how == "header-length":
        path.write_bytes((10**12).to_bytes(8, "little") + data[8:])
    elif how == "header-json":
        path.write_bytes(data[:8] + b"{not json" + data[17:])
    elif how == "pickle-renamed":
        torch.save({"w": torch.zeros(2)}, path)


@pytest.mark.parametrize("how", ["truncated", "empty", "header-length", "header-json", "pickle-renamed"])
def test_damaged_weights_give_a_clear_error(tiny_model, tmp_path, how):
    model = tmp_path / "model"
    shutil.copytree(tiny_model, model)
    _damage(model / "model.safetensors", how)
    with pytest.raises(ModelFileError) as err:
        load_for_inference(model)
    msg = str(err.value)
    assert str(model / "model.safetensors") in msg and "train, export or download the model again" in msg


@pytest.mark.slow
def test_damaged_weights_are_reported_by_the_cli_without_a_traceback(tiny_model, tmp_path):
    model = tmp_path / "model"
    shutil.copytree(tiny_model, model)
    _damage(model / "model.safetensors", "truncated")
    run = subprocess.run(
        [sys.executable, "-m", "careerpath.app.cli", "recommend", "--model", str(model), "--no-embeddings"]
        + ["--job", "Data Analyst", "--skills", "SQL"],
        cwd=ROOT,
        env=ENV,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 2
    assert "Traceback" not in run.stderr and "damaged, truncated" in run.stderr


def test_pickle_weights_are_never_loaded(tiny_model, tmp_path):
    model = tmp_path / "model"
    shutil.copytree(tiny_model, model)
    (model / "model.safetensors").unlink()
    torch.save({"w": torch.zeros(2)}, model / "pytorch_model.bin")
    with pytest.raises(FileNotFoundError, match="pytorch_model.bin, which careerpath never loads"):
        load_for_inference(model)
