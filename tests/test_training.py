"""The training loop on the checked-in tiny dataset: outputs, learning, resume, multi-process."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from safetensors.torch import load_file

from careerpath.core.config import load_config
from careerpath.core.textformat import parse_target
from careerpath.model import modelcard
from careerpath.model.generation import compute_metrics, generate
from careerpath.model.modeling import load_for_inference, train_tokenizer
from careerpath.training import training, training_loop
from tests.conftest import small_t5_args

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "tests" / "assets" / "tiny_dataset"
TINY = ["--data.data-dir", str(DATA), *small_t5_args(max_eval=4, max_new_tokens=24)]
TINY += ["--train.log-every", "1"]


def tiny_cfg(out: Path, *extra: str):
    return load_config(
        ["--config", str(ROOT / "configs" / "tiny_t5.yaml"), "--train.output-dir", str(out), *TINY, *extra]
    )


def rows(split: str) -> list[dict]:
    return training.load_rows(DATA, split)


def test_tokenizer_round_trips_targets_and_unseen_text():
    texts = [r["input_text"] for r in rows("train")] + [r["target_text"] for r in rows("train")]
    tok = train_tokenizer(texts, vocab_size=1000)
    samples = [r["target_text"] for r in rows("validation") + rows("test")]
    samples += ["next_course: Café Ñoño, C++ \\| 101 | skills_gained: A\\, B,  C | next_job: stay"]
    for text in samples:
        ids = tok(text)["input_ids"]
        assert ids[-1] == tok.eos_token_id
        assert tok.decode(ids, skip_special_tokens=True) == text
    # whole course names become few tokens, so targets stay short
    assert len(tok(" JavaScript Essentials", add_special_tokens=False)["input_ids"]) == 2


def test_metrics_from_generations():
    ref = [
        "next_course: A | skills_gained: x, y | next_job: stay",
        "next_course: B | skills_gained: z | next_job: Dev",
    ]
    pred = ["next_course: A | skills_gained: y | next_job: stay", "garbage"]
    m = compute_metrics(pred, ref)
    assert m["next_course_acc"] == 0.5 and m["next_job_acc"] == 0.5 and m["next_job_acc_moves"] == 0.0
    assert m["exact_match"] == 0.0 and 0 < m["bleu"] < 100
    assert compute_metrics(ref, ref)["bleu"] == pytest.approx(100.0)
    # garbage without a next_job field must not count as a correct "stay"
    assert compute_metrics(["Engineer Engineer"], [ref[0]])["next_job_acc"] == 0.0


def test_train_writes_complete_outputs(tmp_path):
    out = training.run_training(tiny_cfg(tmp_path / "run", "--epochs", "2", "--train.max-steps", "0"))
    names = {p.name for p in out.iterdir()}
    assert {"model.safetensors", "tokenizer.json", "generation_config.json", "config.yaml"} <= names
    assert {"metrics.json", "training_curve.png", "README.md"} <= names
    assert not list(out.glob("*.bin")) and not list(tmp_path.glob(".run.tmp-*"))
    metrics = json.loads((out / "metrics.json").read_text())
    assert [e["epoch"] for e in metrics["epochs"]] == [0, 1] and metrics["num_processes"] == 1
    assert metrics["final"]["next_course_acc"] == max(e["next_course_acc"] for e in metrics["epochs"])
    assert load_config(["--config", str(out / "config.yaml")]).model.d_model == 32
    card = (out / "README.md").read_text()
    meta = yaml.safe_load(card.split("---")[1])
    assert meta["license"] == "apache-2.0" and meta["library_name"] == "transformers"
    # validation generation figures are not the test ranking: no model-index until `careerpath push --eval`
    assert "model-index" not in meta and meta["inference"] is False and "base_model" not in meta
    assert "| next_course_acc |" in card and "Recommender.from_pretrained" in card
    model, tok, kind = load_for_inference(out)
    assert kind == "seq2seq"
    preds = generate(model, tok, kind, [r["input_text"] for r in rows("test")[:3]], max_new_tokens=24)
    assert len(preds) == 3 and all(isinstance(parse_target(p).next_job, str) for p in preds)


@pytest.mark.slow
def test_tiny_model_learns_the_fixture_rule(tmp_path):
    """The default architecture, trained for a few seconds, must beat chance (1/9 courses) clearly."""
    cfg = load_config(
        ["--data.data-dir", str(DATA), "--train.output-dir", str(tmp_path / "o"), "--epochs", "10"]
    )
    cfg.train.batch_size, cfg.train.num_threads, cfg.data.max_eval_examples = 8, 1, 0
    metrics = json.loads((training.run_training(cfg) / "metrics.json").read_text())
    assert metrics["final"]["next_course_acc"] >= 0.5, metrics["final"]
    assert metrics["train_loss"][-1][1] < metrics["train_loss"][0][1] / 3


def _interrupt_after(step: int, monkeypatch):
    original = training_loop.save_checkpoint

    def save_then_stop(accelerator, cfg, state, best):
        original(accelerator, cfg, state, best)
        if state.step == step:
            raise KeyboardInterrupt("simulated interruption")

    monkeypatch.setattr(training_loop, "save_checkpoint", save_then_stop)


def test_length_grouped_batches_pad_sources_and_targets_little():
    """Each epoch: every example once, in an order fixed by (seed, epoch); batches of like
    source lengths, re-sorted in threes by target length, so targets (whose lengths do not follow
    the sources') are padded much less than with the source grouping alone."""
    from careerpath.training.training_data import LengthGroupedBatches

    rng = np.random.default_rng(0)
    src, tgt = rng.integers(50, 150, 4000).tolist(), rng.integers(10, 30, 4000).tolist()

    def padding(batches, lengths):
        return 1 - sum(lengths[i] for b in batches for i in b) / sum(
            len(b) * max(lengths[i] for i in b) for b in batches
        )

    both = LengthGroupedBatches(src, 16, seed=3, target_lengths=tgt)
    first = list(both)
    assert sorted(i for b in first for i in b) == list(range(4000)) and len(first) == len(both) == 250
    assert list(LengthGroupedBatches(src, 16, seed=3, target_lengths=tgt)) == first  # same seed and epoch
    both.set_epoch(1)
    assert list(both) != first
    source_only = list(LengthGroupedBatches(src, 16, seed=3))
    assert padding(first, tgt) < 0.6 * padding(source_only, tgt)
    assert padding(first, src) < 0.05 and padding(source_only, src) < padding(first, src)


def test_resume_matches_uninterrupted_run(tmp_path, monkeypatch):
    steps = ["--train.max-steps", "4", "--train.checkpoint-every", "2", "--train.eval-every-epoch", "false"]
    full = training.run_training(tiny_cfg(tmp_path / "full", *steps))
    _interrupt_after(2, monkeypatch)
    with pytest.raises(KeyboardInterrupt):
        training.run_training(tiny_cfg(tmp_path / "cut", *steps))
    assert not (tmp_path / "cut" / "model.safetensors").exists()  # no half output
    monkeypatch.undo()
    resumed = training.run_training(
        tiny_cfg(tmp_path / "cut", *steps, "--train.resume-from-checkpoint", "latest")
    )
    a, b = (json.loads((d / "metrics.json").read_text())["train_loss"] for d in (full, resumed))
    assert [s for s, _ in b] == [1, 2, 3, 4]
    assert [v for _, v in a] == pytest.approx([v for _, v in b], abs=1e-5)
    wa, wb = load_file(full / "model.safetensors"), load_file(resumed / "model.safetensors")
    assert all(torch.allclose(wa[k], wb[k], atol=1e-6) for k in wa)
    assert (resumed / "checkpoints" / "step_4").is_dir()


@pytest.mark.slow
def test_compiled_training_matches_eager_and_saves_plain_weights(
    tmp_path, monkeypatch, fresh_accelerator_state
):
    """``--train.compile default`` (torch.compile through accelerate, inductor; here on CPU): the same
    losses as the eager transformers forward, the saved weights carry the model's own names, and an
    interrupted compiled run resumes exactly."""
    if not (shutil.which("c++") or shutil.which("g++")):
        pytest.skip("torch.compile on CPU (inductor) needs a C++ compiler: apt-get install g++")
    steps = ["--train.max-steps", "3", "--train.eval-every-epoch", "false", "--train.lean-forward", "false"]
    steps += ["--train.mixed-precision", "no"]  # float32 both: bf16 rounds differently once ops are fused
    from torch._dynamo.utils import counters

    eager = training.run_training(tiny_cfg(tmp_path / "eager", *steps))
    counters.clear()
    compiled = training.run_training(tiny_cfg(tmp_path / "compiled", *steps, "--train.compile", "default"))
    assert counters["stats"]["unique_graphs"] >= 1  # the blocks ran compiled
    a, b = (json.loads((d / "metrics.json").read_text())["train_loss"] for d in (eager, compiled))
    assert [s for s, _ in b] == [1, 2, 3]
    assert [v for _, v in b] == pytest.approx([v for _, v in a], rel=1e-3)
    wa, wb = load_file(eager / "model.safetensors"), load_file(compiled / "model.safetensors")
    assert set(wa) == set(wb) and not any("_orig_mod" in k for k in wb)
    assert all(torch.allclose(wa[k], wb[k], atol=1e-4) for k in wa)
    assert load_config(["--config", str(compiled / "config.yaml")]).train.compile == "default"
    # a compiled run resumes from its checkpoint as an eager one does
    ckpt = [*steps, "--train.compile", "default", "--train.checkpoint-every", "2"]
    _interrupt_after(2, monkeypatch)
    with pytest.raises(KeyboardInterrupt):
        training.run_training(tiny_cfg(tmp_path / "cut", *ckpt))
    monkeypatch.undo()
    shutil.copytree(tmp_path / "cut", tmp_path / "cut_eager")
    resumed = training.run_training(
        tiny_cfg(tmp_path / "cut", *ckpt, "--train.resume-from-checkpoint", "latest")
    )
    c = json.loads((resumed / "metrics.json").read_text())["train_loss"]
    assert [s for s, _ in c] == [1, 2, 3] and [v for _, v in c] == pytest.approx([v for _, v in b], abs=1e-5)
    # and without --train.compile: the checkpoint holds the model's own names, not the compiled wrapper's
    eager_resumed = training.run_training(
        tiny_cfg(
            tmp_path / "cut_eager",
            *steps,
            "--train.checkpoint-every",
            "2",
            "--train.resume-from-checkpoint",
            "latest",
        )
    )
    e = json.loads((eager_resumed / "metrics.json").read_text())["train_loss"]
    assert [s for s, _ in e] == [1, 2, 3] and [v for _, v in e] == pytest.approx([v for _, v in b], rel=1e-3)
    we = load_file(eager_resumed / "model.safetensors")
    assert set(we) == set(wb) and all(torch.allclose(we[k], wb[k], atol=1e-4) for k in wb)


def test_compile_mode_is_checked():
    from careerpath.core.config import ConfigError

    with pytest.raises(ConfigError, match="train.compile: 'fast' is not one of no, default"):
        load_config(["--train.compile", "fast"])


def test_failed_save_keeps_previous_output(tmp_path, monkeypatch):
    out = tmp_path / "run"
    training.run_training(tiny_cfg(out, "--train.max-steps", "1"))
    before = (out / "model.safetensors").read_bytes()

    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(modelcard, "write_model_card", broken)
    with pytest.raises(OSError, match="disk full"):
        training.run_training(tiny_cfg(out, "--train.max-steps", "2", "--seed", "7"))
    assert (out / "model.safetensors").read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]  # no temp folders left


def _run(cmd: list[str], tmp_path: Path) -> None:
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(ROOT))
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]


@pytest.mark.slow
def test_torchrun_two_processes(tmp_path):
    """``accelerate launch --cpu --num_processes 2`` can start a single process; torchrun does not."""
    out = tmp_path / "ddp"
    args = [
        "--config",
        "configs/tiny_t5.yaml",
        "--train.output-dir",
        str(out),
        *TINY,
        "--train.max-steps",
        "3",
    ]
    _run(
        [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "train.py", *args], tmp_path
    )
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["num_processes"] == 2 and "MULTI_CPU" in metrics["distributed_type"]
    assert metrics["steps"] == 3


@pytest.mark.slow
def test_accelerate_launch_cpu(tmp_path):
    out = tmp_path / "acc"
    args = [
        "--config",
        "configs/tiny_t5.yaml",
        "--train.output-dir",
        str(out),
        *TINY,
        "--train.max-steps",
        "2",
    ]
    launch = [sys.executable, "-m", "accelerate.commands.launch", "--cpu", "--num_processes", "1"]
    _run(
        [
            *launch,
            "--num_machines",
            "1",
            "--mixed_precision",
            "no",
            "--dynamo_backend",
            "no",
            "train.py",
            *args,
        ],
        tmp_path,
    )
    assert json.loads((out / "metrics.json").read_text())["num_processes"] == 1


def test_decision_weighted_loss():
    """Weight 1 is the model's own loss; a larger weight moves the loss towards the decision tokens."""
    from careerpath.training.training import _loss

    model = _toy_t5()
    batch = {
        "input_ids": torch.tensor([[5, 6, 7, 1]]),
        "attention_mask": torch.ones(1, 4, dtype=torch.long),
        "labels": torch.tensor([[9, 30, 11, -100]]),
    }
    decisions = torch.tensor([30])
    plain = model(**batch).loss
    assert torch.isclose(_loss(model, batch, decisions, 1.0), plain)
    logits = model(**batch).logits[0, :3]
    ce = torch.nn.functional.cross_entropy(logits, batch["labels"][0, :3], reduction="none")
    expected = (ce[0] + 4 * ce[1] + ce[2]) / 6
    assert torch.isclose(_loss(model, batch, decisions, 4.0), expected, atol=1e-5)


def _toy_t5():
    from transformers import T5Config, T5ForConditionalGeneration

    torch.manual_seed(0)
    config = T5Config(
        vocab_size=40,
        d_model=16,
        d_kv=8,
        d_ff=32,
        num_layers=1,
        num_heads=2,
        decoder_start_token_id=0,
        pad_token_id=0,
    )
    return T5ForConditionalGeneration(config).eval()


def _soft_batch(ids: list[int], probs: list[float], other: float) -> dict:
    return {
        "input_ids": torch.tensor([[5, 6, 7, 1]]),
        "attention_mask": torch.ones(1, 4, dtype=torch.long),
        "labels": torch.tensor([[9, 30, 11, -100]]),
        "soft_pos": torch.tensor([[1, -1]]),
        "soft_ids": torch.tensor([[ids, [0] * len(ids)]]),
        "soft_p": torch.tensor([[probs, [0.0] * len(probs)]]),
        "soft_other": torch.tensor([[other, 0.0]]),
    }


def test_soft_target_loss_matches_the_formula():
    """At a decision position the loss is the cross-entropy against the generator's distribution:
    listed probabilities, the rest spread evenly over the other courses of the pool."""
    from careerpath.training.training import _loss

    model, pool = _toy_t5(), torch.tensor([30, 31, 32, 33])
    plain = {k: v for k, v in _soft_batch([30], [1.0], 0.0).items() if not k.startswith("soft_")}
    logits = model(**plain).logits[0, :3]
    ce = torch.nn.functional.cross_entropy(logits, plain["labels"][0, :3], reduction="none")
    logp = torch.log_softmax(logits[1], -1)
    soft = -(0.6 * logp[30] + 0.3 * logp[31]) - 0.1 * (logp[32] + logp[33]) / 2
    got = _loss(model, _soft_batch([30, 31], [0.6, 0.3], 0.1), None, 1.0, pool)
    assert torch.isclose(got, (ce[0] + soft + ce[2]) / 3, atol=1e-5)
    # all the mass on the sampled token: exactly the ordinary loss
    assert torch.isclose(
        _loss(model, _soft_batch([30], [1.0], 0.0), None, 1.0, pool), model(**plain).loss, atol=1e-6
    )
    # mass moved away from the sampled course changes the loss
    assert not torch.isclose(
        _loss(model, _soft_batch([31], [1.0], 0.0), None, 1.0, pool), model(**plain).loss
    )


def test_soft_targets_point_at_the_decision_tokens(tiny_dataset):
    from careerpath.model.modeling import catalog_names

    train = training.load_rows(tiny_dataset, "train")
    texts = [r["input_text"] for r in train] + [r["target_text"] for r in train]
    tok = train_tokenizer(texts, vocab_size=600, entity_names=catalog_names(tiny_dataset))
    soft = training.SoftTargets.from_catalog(tok, tiny_dataset)
    assert soft is not None and len(soft.course_pool) == len(soft.course_token)
    cfg = tiny_cfg(Path("/tmp/unused"), "--data.data-dir", str(tiny_dataset))
    examples = training.encode_rows(train[:50], tok, "seq2seq", cfg, soft)
    assert sum(1 for e in examples if e.get("soft")) >= 45
    for row, ex in zip(train[:50], examples, strict=True):
        for n, (pos, ids, probs, other) in enumerate(ex.get("soft", [])):
            gold = soft.course_token[row["next_course_id"]] if n == 0 else soft.job_token[row["next_job_id"]]
            assert ex["labels"][pos] == gold and gold in ids
            assert sum(probs) + other == pytest.approx(1.0, abs=1e-3)
    batch = training.make_collate(tok.pad_token_id)(examples[:4])
    assert batch["soft_pos"].shape == (4, 2) and batch["soft_p"].sum(-1).max() <= 1.0 + 1e-3


def test_source_rounded_to_a_multiple_of_8_trains_the_same(tiny_dataset):
    """Under bf16 an encoder-decoder's source width is rounded up to a multiple of 8 (fewer kernel
    shapes): the extra positions are padding, so the loss and every gradient are those of the
    unrounded batch (float32 here, to compare them tightly)."""
    from careerpath.model import modeling
    from careerpath.model.scoring import LeanT5Training
    from careerpath.training.training_data import source_multiple

    assert source_multiple("seq2seq", "bf16") == 8
    assert source_multiple("seq2seq", "no") == source_multiple("causal", "bf16") == 1
    cfg = tiny_cfg(Path("/tmp/unused"), "--data.data-dir", str(tiny_dataset))
    rows = training.load_rows(tiny_dataset, "train")[:40]
    torch.manual_seed(0)
    model, tok, family = modeling.build(
        cfg, [r["input_text"] for r in rows] + [r["target_text"] for r in rows]
    )
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.02 * torch.randn_like(p))
    examples = training.encode_rows(rows[:6], tok, family, cfg)
    plain = training.make_collate(tok.pad_token_id)(examples)
    rounded = training.make_collate(tok.pad_token_id, 8)(examples)
    width = plain["input_ids"].shape[1]
    assert width % 8 and rounded["input_ids"].shape[1] == -(-width // 8) * 8
    assert torch.equal(rounded["input_ids"][:, :width], plain["input_ids"])
    assert not rounded["attention_mask"][:, width:].any() and torch.equal(rounded["labels"], plain["labels"])
    lean = LeanT5Training.build(model)
    grads = []
    for batch in (plain, rounded):
        model.zero_grad(set_to_none=True)
        loss = training_loop._loss(model, dict(batch), None, 1.0, lean=lean)
        loss.backward()
        grads.append((loss.detach(), [p.grad.clone() for p in model.parameters()]))
    assert torch.allclose(grads[0][0], grads[1][0], atol=1e-6)
    for (name, _), a, b in zip(model.named_parameters(), grads[0][1], grads[1][1], strict=True):
        # the same sums in other groupings (other matrix shapes): float32 rounding, no more
        assert (a - b).abs().max() <= 1e-5 * max(1.0, a.abs().max()), name


def test_soft_target_training_runs_and_logs_every_step(tiny_dataset, tmp_path):
    """Soft targets train end to end; losses read back every 4 steps still give one entry per step."""
    args = [
        "--data.data-dir",
        str(tiny_dataset),
        "--train.soft-targets",
        "always",
        "--epochs",
        "1",
        "--train.max-steps",
        "6",
    ]
    out = training.run_training(tiny_cfg(tmp_path / "soft", *args, "--train.log-every", "4"))
    metrics = json.loads((out / "metrics.json").read_text())
    assert [s for s, _ in metrics["train_loss"]] == [1, 2, 3, 4, 5, 6]
    assert all(v == v and v > 0 for _, v in metrics["train_loss"])  # no NaN
    with pytest.raises(ValueError, match="soft-targets always needs"):  # the fixture dataset has no catalog/
        training.run_training(
            tiny_cfg(tmp_path / "bad", "--train.soft-targets", "always", "--train.max-steps", "1")
        )


def test_physical_cores_counts_smt_siblings_once(tmp_path):
    for cpu, siblings in {0: "0,2", 1: "1,3", 2: "0,2", 3: "1,3", 4: "4"}.items():
        (tmp_path / f"cpu{cpu}" / "topology").mkdir(parents=True)
        (tmp_path / f"cpu{cpu}" / "topology" / "thread_siblings_list").write_text(siblings + "\n")
    assert training.physical_cores([0, 1, 2, 3, 4], str(tmp_path)) == 3  # two SMT pairs + one core
    assert training.physical_cores([0, 2], str(tmp_path)) == 1
    assert training.physical_cores([0, 1, 2, 3], str(tmp_path / "missing")) == 2  # unreadable: half
    assert training.default_threads() >= 1


_ALLOC_PROBE = """
import sys, torch
if sys.argv[1] == "tuned":
    from careerpath.training.training import tune_host_allocator
    assert tune_host_allocator()
x = torch.ones(5 * 2**20)  # 20 MB
for line in open("/proc/self/maps"):
    lo, hi = (int(v, 16) for v in line.split()[0].split("-"))
    if lo <= x.data_ptr() < hi:
        print("heap" if line.rstrip().endswith("[heap]") else "mapping")
"""


def test_tuned_allocator_keeps_tensors_of_megabytes_on_the_heap():
    """glibc's defaults give a multi-MB tensor its own mapping, handed back to the kernel when it is
    freed, so a training step's logits and gradients fault in again each step; after
    tune_host_allocator (make_accelerator calls it) they come from the heap and are reused."""
    import platform

    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        assert training.tune_host_allocator() is False
        return
    where = {}
    for mode in ("default", "tuned"):
        out = subprocess.run(
            [sys.executable, "-c", _ALLOC_PROBE, mode], capture_output=True, text=True, cwd=ROOT, check=True
        )
        where[mode] = out.stdout.strip()
    assert where == {"default": "mapping", "tuned": "heap"}


def test_collate_pads_every_field_right():
    """The collate (filled in numpy): right padding with the pad id / -100 / zeros, source width
    rounded to the multiple, soft targets and priors where an example has them, torch dtypes."""
    import numpy as np

    examples = [
        {
            "input_ids": [5, 6, 7],
            "labels": [1, 2],
            "soft": [(1, [3, 4], [0.5, 0.25], 0.25)],
            "prior": (0, np.array([0.1, 0.2], dtype=np.float32)),
        },
        {"input_ids": [8], "labels": [9, 10, 11], "job_prior": (2, np.array([0.3, -1.0, 0.5]))},
    ]
    b = training.make_collate(pad_id=0, multiple=4)(examples)
    assert b["input_ids"].tolist() == [[5, 6, 7, 0], [8, 0, 0, 0]]
    assert b["attention_mask"].tolist() == [[1, 1, 1, 0], [1, 0, 0, 0]]
    assert b["labels"].tolist() == [[1, 2, -100], [9, 10, 11]]
    assert b["soft_pos"].tolist() == [[1, -1], [-1, -1]] and b["soft_ids"].tolist() == [
        [[3, 4], [0, 0]],
        [[0, 0], [0, 0]],
    ]
    assert b["soft_p"].tolist() == [[[0.5, 0.25], [0.0, 0.0]], [[0.0, 0.0], [0.0, 0.0]]]
    assert b["soft_other"].tolist() == [[0.25, 0.0], [0.0, 0.0]]
    assert b["prior_pos"].tolist() == [0, -1] and torch.allclose(
        b["prior_bias"], torch.tensor([[0.1, 0.2], [0.0, 0.0]])
    )
    assert b["jobprior_pos"].tolist() == [-1, 2]
    assert torch.allclose(b["jobprior_bias"], torch.tensor([[0.0, 0.0, 0.0], [0.3, -1.0, 0.5]]))
    for key in ("input_ids", "attention_mask", "labels", "soft_pos", "soft_ids", "prior_pos"):
        assert b[key].dtype == torch.long, key
    for key in ("soft_p", "soft_other", "prior_bias", "jobprior_bias"):
        assert b[key].dtype == torch.float32, key
