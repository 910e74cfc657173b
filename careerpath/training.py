"""The accelerate training loop: data -> model -> fit (checkpoints, resume) -> validate -> save.

A plain loop in the style of transformers' ``run_summarization_no_trainer.py``: the same code runs
on one CPU, ``torchrun``/``accelerate launch`` multi-process (DDP, FSDP) and GPUs with bf16.
"""

from __future__ import annotations

import copy
import json
import logging
import math
import os
import re
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from accelerate import Accelerator
from accelerate.utils import DataLoaderConfiguration, DistributedType, set_seed
from safetensors.torch import load_file, save_file
from torch.utils.data import DataLoader, Sampler
from tqdm.auto import tqdm
from transformers import get_scheduler

from careerpath import feedback_train, generation, modelcard, modeling
from careerpath.atomic import atomic_dir
from careerpath.config import Config, save_config
from careerpath.job_prior import JobPrior, choose_scales
from careerpath.prior import EXCLUDED, CoursePrior, LatentClassPrior
from data_prep.context import CONTEXT_FILE
from data_prep.textformat import STAY

log = logging.getLogger(__name__)
CHECKPOINT_RE = re.compile(r"step_(\d+)$")


# ---------------------------------------------------------------- data


def load_rows(data_dir: str | Path, split: str, limit: int = 0) -> list[dict]:
    """Rows of ``DATA/<split>.jsonl`` (the first ``limit`` when > 0), through the one split reader."""
    from careerpath.splits import load_split

    return load_split(data_dir, split, limit)


def encode_rows(
    rows: list[dict],
    tokenizer,
    family: str,
    cfg: Config,
    soft: SoftTargets | None = None,
    prior: CoursePrior | None = None,
    job_prior: JobPrior | None = None,
) -> list[dict]:
    """Token ids per example. Causal: prompt + target + EOS with the loss on the target only.
    With ``soft``, seq2seq examples also carry the generator's distributions for their decisions;
    with ``prior`` (needs ``soft``'s course tokens), the course prior of each row and the label
    position of its next course."""
    d = cfg.data
    tokenizer.truncation_side = "left"  # the recent end of a history matters most
    if family == "seq2seq":
        src = tokenizer([r["input_text"] for r in rows], truncation=True, max_length=d.max_source_length)
        tgt = tokenizer([r["target_text"] for r in rows], truncation=True, max_length=d.max_target_length)
        out = [{"input_ids": s, "labels": t} for s, t in zip(src["input_ids"], tgt["input_ids"], strict=True)]
        if soft is not None:
            for row, ex in zip(rows, out, strict=True):
                if decisions := soft.for_row(row, ex["labels"]):
                    ex["soft"] = decisions
        if prior is not None and soft is not None:
            for row, ex in zip(rows, out, strict=True):
                gold = soft.course_token.get(row.get("next_course_id", ""))
                if gold is not None and gold in ex["labels"]:
                    ex["prior"] = (ex["labels"].index(gold), prior.for_row(row))
        if job_prior is not None and soft is not None:  # the job prior at the next-job position
            for row, ex in zip(rows, out, strict=True):
                gold = soft.job_token.get(row.get("next_job_id", ""))
                if gold is not None and gold in ex["labels"]:
                    pos = len(ex["labels"]) - 1 - ex["labels"][::-1].index(gold)
                    ex["job_prior"] = (pos, job_prior.for_row(row))
        return out
    prompts = [generation.build_prompt(r["input_text"]) for r in rows]
    src = tokenizer(prompts, add_special_tokens=False, truncation=True, max_length=d.max_source_length)
    tgt = tokenizer([r["target_text"] for r in rows], add_special_tokens=False)
    out = []
    for s, t in zip(src["input_ids"], tgt["input_ids"], strict=True):
        t = t[: d.max_target_length - 1] + [tokenizer.eos_token_id]  # EOS so generation stops
        out.append({"input_ids": s + t, "labels": [-100] * len(s) + t})
    return out


@dataclass
class SoftTargets:
    """The generator's distribution over the next course and the next job given the text
    (``probs_visible`` in each synthetic row), mapped to the one token each catalog name has.

    Learning these instead of the one sampled choice gives every example the whole distribution
    the oracle ceiling is computed from: the sampled label is a single draw from it, so with hard
    labels most of what an example could teach is noise. Only for synthetic data (real histories
    have no such probabilities) and only where names are single tokens (the tiny T5)."""

    course_token: dict[str, int]  # course id -> token id
    job_token: dict[str, int]  # job id (and "stay") -> token id

    @classmethod
    def from_catalog(cls, tokenizer, data_dir: str | Path) -> SoftTargets | None:
        from careerpath.scoring import course_token_ids, job_token_ids
        from data_prep.catalog import load_catalog

        catalog_dir = Path(data_dir) / "catalog"
        if not catalog_dir.is_dir():
            return None
        catalog = load_catalog(catalog_dir)
        cids, jids = list(catalog.courses), list(catalog.jobs)
        ctoks = course_token_ids(tokenizer, catalog)
        jtoks = job_token_ids(tokenizer, [catalog.jobs[j].title for j in jids] + [STAY])
        if ctoks is None or jtoks is None:
            return None
        return cls(dict(zip(cids, ctoks, strict=True)), dict(zip([*jids, STAY], jtoks, strict=True)))

    @property
    def course_pool(self) -> torch.Tensor:
        return torch.tensor(sorted(self.course_token.values()))

    def for_row(self, row: dict, labels: list[int]) -> list[tuple[int, list[int], list[float], float]]:
        """[(label position, token ids, probabilities, mass spread over the other courses)] for the
        next course and the next job, each where its gold token is in the (possibly truncated) labels."""
        probs = row.get("probs_visible")
        if not probs:
            return []
        out = []
        slots = (
            (
                "next_course_id",
                probs.get("course", {}),
                float(probs.get("course_other", 0.0)),
                self.course_token,
            ),
            # the job given the course taken (what the decoder has seen), where the build recorded it;
            # older datasets have only the marginal over all next courses
            ("next_job_id", row.get("job_given_course") or probs.get("job", {}), 0.0, self.job_token),
        )
        for key, dist, other, tokens in slots:
            gold = tokens.get(row.get(key, ""))
            if gold is None or gold not in labels or not dist or any(k not in tokens for k in dist):
                continue
            pos = (
                labels.index(gold) if key == "next_course_id" else len(labels) - 1 - labels[::-1].index(gold)
            )
            out.append((pos, [tokens[k] for k in dist], [float(v) for v in dist.values()], other))
        return out


class LengthGroupedBatches(Sampler):
    """Batches of similar length (less padding) in an order fixed by (seed, epoch), so a resumed
    run sees exactly the batches the interrupted one would have seen."""

    def __init__(self, lengths: list[int], batch_size: int, seed: int, group: int = 50):
        self.lengths, self.batch_size, self.seed, self.group = lengths, batch_size, seed, group
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return math.ceil(len(self.lengths) / self.batch_size)

    def __iter__(self):
        g = torch.Generator().manual_seed(self.seed * 1000 + self.epoch)
        perm = torch.randperm(len(self.lengths), generator=g).tolist()
        mega = self.batch_size * self.group
        batches = []
        for i in range(0, len(perm), mega):
            chunk = sorted(perm[i : i + mega], key=lambda j: self.lengths[j], reverse=True)
            batches += [chunk[k : k + self.batch_size] for k in range(0, len(chunk), self.batch_size)]
        for b in torch.randperm(len(batches), generator=g).tolist():
            yield batches[b]


def make_collate(pad_id: int):
    """Dynamic padding: pad each batch only to its own longest example (right padding)."""

    def collate(examples: list[dict]) -> dict:
        width = max(len(e["input_ids"]) for e in examples)
        lwidth = max(len(e["labels"]) for e in examples)
        ids = torch.full((len(examples), width), pad_id, dtype=torch.long)
        mask = torch.zeros((len(examples), width), dtype=torch.long)
        labels = torch.full((len(examples), lwidth), -100, dtype=torch.long)
        for i, e in enumerate(examples):
            ids[i, : len(e["input_ids"])] = torch.tensor(e["input_ids"])
            mask[i, : len(e["input_ids"])] = 1
            labels[i, : len(e["labels"])] = torch.tensor(e["labels"])
        batch = {"input_ids": ids, "attention_mask": mask, "labels": labels}
        if any(e.get("soft") for e in examples):  # (batch, 2 decisions, k listed) soft targets
            k = max(len(d[1]) for e in examples for d in e.get("soft", []))
            pos = torch.full((len(examples), 2), -1, dtype=torch.long)
            sid = torch.zeros((len(examples), 2, k), dtype=torch.long)
            sp = torch.zeros((len(examples), 2, k))
            other = torch.zeros((len(examples), 2))
            for i, e in enumerate(examples):
                for j, (p, toks, probs, rest) in enumerate(e.get("soft", [])):
                    pos[i, j], other[i, j] = p, rest
                    sid[i, j, : len(toks)] = torch.tensor(toks)
                    sp[i, j, : len(probs)] = torch.tensor(probs)
            batch.update(soft_pos=pos, soft_ids=sid, soft_p=sp, soft_other=other)
        # the course prior at each next-course position, the job prior at each next-job position
        for key, name in (("prior", "prior"), ("job_prior", "jobprior")):
            if any(key in e for e in examples):
                pos, bias = _prior_columns(examples, key)
                batch.update({f"{name}_pos": pos, f"{name}_bias": bias})
        return batch

    return collate


def _prior_columns(examples: list[dict], key: str) -> tuple[torch.Tensor, torch.Tensor]:
    """(label position [batch], prior [batch, n]) of the examples carrying ``key`` = (position,
    vector); -1 and zeros for the others."""
    n = next(len(e[key][1]) for e in examples if key in e)
    pos = torch.full((len(examples),), -1, dtype=torch.long)
    bias = torch.zeros((len(examples), n))
    for i, e in enumerate(examples):
        if key in e:
            pos[i] = e[key][0]
            bias[i] = torch.from_numpy(e[key][1])
    return pos, bias


# ---------------------------------------------------------------- setup


@dataclass
class RunState:
    """Counters and history that a checkpoint must carry for an exact resume."""

    step: int = 0
    epoch: int = 0
    batch_in_epoch: int = 0
    best_metric: float = -1.0
    best_epoch: int = -1
    losses: list[list[float]] = field(default_factory=list)  # [step, loss]
    epochs: list[dict] = field(default_factory=list)


def _mixed_precision(cfg: Config) -> str:
    mp = cfg.train.mixed_precision
    if mp != "auto":
        return mp
    return "bf16" if torch.cuda.is_available() and torch.cuda.is_bf16_supported() else "no"


def physical_cores(cpus: list[int] | None = None, sysfs: str = "/sys/devices/system/cpu") -> int:
    """Cores this process may run on, counting SMT siblings (hyperthreads) once; from the kernel's
    CPU topology, or half the CPUs (the common 2-way SMT) where that is not readable."""
    if cpus is None:
        has_affinity = hasattr(os, "sched_getaffinity")
        cpus = sorted(os.sched_getaffinity(0)) if has_affinity else list(range(os.cpu_count() or 1))
    cores = set()
    for cpu in cpus:
        try:
            cores.add((Path(sysfs) / f"cpu{cpu}" / "topology" / "thread_siblings_list").read_text().strip())
        except OSError:
            return max(1, len(cpus) // 2)
    return max(1, len(cores))


def default_threads() -> int:
    """One torch thread per physical core per local process (SMT siblings share a core's units).
    Measured on a 2-core VM (1 thread per core), tiny T5 batch 16: idle, 2 threads 197-209 vs 1
    thread 123 examples/s; but while another process keeps a core busy, 2 threads fell to 33
    against 78 for 1 (OpenMP threads wait for each other): on a shared machine set num_threads 1."""
    local = int(os.environ.get("LOCAL_WORLD_SIZE", "1"))
    return max(1, physical_cores() // local)


def make_accelerator(cfg: Config) -> Accelerator:
    t = cfg.train
    torch.set_num_threads(t.num_threads or default_threads())
    trackers = list(t.trackers) or None
    return Accelerator(
        # without cpu=True accelerate ignores torchrun's WORLD_SIZE on a CPU-only machine
        cpu=not torch.accelerator.is_available(),
        gradient_accumulation_steps=t.grad_accum,
        mixed_precision=_mixed_precision(cfg),
        # with pinned host batches (see run_training) the copy to the GPU does not block the host
        dataloader_config=DataLoaderConfiguration(non_blocking=True),
        log_with=trackers,
        project_dir=str(Path(t.output_dir) / "logs") if trackers else None,
    )


def make_dataloader(
    examples: list[dict], tokenizer, cfg: Config, device
) -> tuple[LengthGroupedBatches, DataLoader]:
    """Length-grouped, dynamically padded batches; pinned for a non-blocking copy to a GPU."""
    sampler = LengthGroupedBatches(
        [len(e["input_ids"]) for e in examples], cfg.train.batch_size, cfg.train.seed
    )
    # its own generator: creating an iterator then draws its seed from here, not from the global
    # RNG that dropout uses, so a resumed run's dropout masks match the uninterrupted run's
    dataloader = DataLoader(
        examples,
        batch_sampler=sampler,
        collate_fn=make_collate(tokenizer.pad_token_id),
        generator=torch.Generator().manual_seed(cfg.train.seed),
        pin_memory=torch.device(device).type == "cuda",
    )
    return sampler, dataloader


def make_optimizer(model, cfg: Config, total_steps: int, num_processes: int, device=None):
    t = cfg.train
    params = [p for p in model.parameters() if p.requires_grad]
    # one fused kernel updates all parameters: on CUDA (what Trainer uses) and on CPU, where it
    # halved optimizer step + clipping for the tiny T5 (11.5 -> 5.5 ms per step, 1 thread)
    fused = device is None or torch.device(device).type in ("cuda", "cpu")
    optimizer = torch.optim.AdamW(params, lr=t.lr, weight_decay=t.weight_decay, fused=fused or None)
    name = {"linear": "linear", "cosine": "cosine", "constant": "constant_with_warmup"}[t.schedule]
    # the prepared scheduler steps once per process per update, hence the factor
    scheduler = get_scheduler(
        name,
        optimizer,
        num_warmup_steps=int(t.warmup_ratio * total_steps) * num_processes,
        num_training_steps=total_steps * num_processes,
    )
    return optimizer, scheduler


def _flat_config(cfg: Config) -> dict:
    """Scalars only, as tensorboard's hparams want them."""
    out = {}
    for sec, values in cfg.to_dict().items():
        for k, v in values.items():
            out[f"{sec}.{k}"] = v if isinstance(v, (int, float, str, bool)) else str(v)
    return out


# ---------------------------------------------------------------- checkpoints


def find_checkpoint(cfg: Config) -> Path | None:
    spec = cfg.train.resume_from_checkpoint
    if not spec:
        return None
    if spec != "latest":
        path = Path(spec)
        if not (path / "careerpath_state.json").exists():
            raise FileNotFoundError(f"train.resume_from_checkpoint: {path} is not a checkpoint folder")
        return path
    root = Path(cfg.train.output_dir) / "checkpoints"
    found = [(int(m.group(1)), p) for p in root.glob("step_*") if (m := CHECKPOINT_RE.search(p.name))]
    found = [(n, p) for n, p in found if (p / "careerpath_state.json").exists()]
    return max(found)[1] if found else None


def _trainable_state(model) -> dict[str, torch.Tensor]:
    return {n: p.detach().cpu().clone() for n, p in model.named_parameters() if p.requires_grad}


def save_checkpoint(accelerator: Accelerator, cfg: Config, state: RunState, best: dict | None) -> None:
    path = Path(cfg.train.output_dir) / "checkpoints" / f"step_{state.step}"
    accelerator.save_state(str(path))
    if accelerator.is_main_process:
        if best:
            save_file(best, str(path / "best_trainable.safetensors"))
        (path / "careerpath_state.json").write_text(json.dumps(state.__dict__))
    accelerator.wait_for_everyone()


def load_checkpoint(accelerator: Accelerator, path: Path) -> tuple[RunState, dict | None]:
    accelerator.load_state(str(path))
    state = RunState(**json.loads((path / "careerpath_state.json").read_text()))
    best_file = path / "best_trainable.safetensors"
    best = load_file(str(best_file)) if best_file.exists() else None
    log.info(
        "resumed from %s at step %d (epoch %d, batch %d)", path, state.step, state.epoch, state.batch_in_epoch
    )
    return state, best


# ---------------------------------------------------------------- evaluation


def validate(
    accelerator: Accelerator,
    model,
    tokenizer,
    family: str,
    rows: list[dict],
    cfg: Config,
    prior: CoursePrior | None = None,
    job_prior: JobPrior | None = None,
) -> dict:
    """Generation-based metrics (with the model's priors, when it has them); every process
    generates its share of the rows."""
    idx = list(range(len(rows)))
    sync = accelerator.distributed_type in (DistributedType.FSDP, DistributedType.DEEPSPEED)
    with accelerator.split_between_processes(idx, apply_padding=True) as mine:
        preds = generation.generate(
            accelerator.unwrap_model(model),
            tokenizer,
            family,
            [rows[i]["input_text"] for i in mine],
            batch_size=cfg.train.eval_batch_size,
            max_new_tokens=cfg.generation.max_new_tokens,
            num_beams=cfg.generation.num_beams,
            max_source_length=cfg.data.max_source_length,
            synced_gpus=sync,
            prior=prior,
            job_prior=job_prior,
        )
        pairs = list(zip(mine, preds, strict=True))
    from accelerate.utils import gather_object

    by_idx = dict(gather_object(pairs))
    predictions = [by_idx[i] for i in idx]
    metrics = generation.compute_metrics(predictions, [r["target_text"] for r in rows])
    metrics["examples"] = [
        {"input": r["input_text"], "target": r["target_text"], "prediction": p}
        for r, p in zip(rows[:3], predictions[:3], strict=True)
    ]
    return metrics


# ---------------------------------------------------------------- the loop


def decision_token_ids(tokenizer, data_dir: str | Path) -> torch.Tensor | None:
    """Token ids of the decisions in a target (catalog course and job names, and "stay") when
    each is a single token (the tiny T5's catalog tokens); None otherwise."""
    soft = SoftTargets.from_catalog(tokenizer, data_dir)
    if soft is None:
        return None
    return torch.tensor(sorted(set(soft.course_token.values()) | set(soft.job_token.values())))


def _loss(
    model,
    batch: dict,
    decision_ids: torch.Tensor | None,
    weight: float,
    course_pool: torch.Tensor | None = None,
    lean=None,
    prior_tokens: torch.Tensor | None = None,
    job_prior_tokens: torch.Tensor | None = None,
) -> torch.Tensor:
    """Token-mean cross-entropy, with the decision tokens (next course, next job) weighted by
    ``weight``: the rest of a target is mostly copied from the catalog, so its tokens are easy
    and would otherwise dominate the average. With soft targets in the batch (see SoftTargets),
    a decision position's loss is the cross-entropy against the generator's distribution: the
    listed probabilities, plus the rest spread evenly over the other courses of ``course_pool``.
    ``lean``: a :class:`~careerpath.scoring.LeanT5Training` of ``model`` for the forward.
    With a course prior in the batch (``prior_pos``, ``prior_bias``; see careerpath/prior.py), each
    row's prior is added to the logits of the course tokens ``prior_tokens`` (catalog order) at its
    next-course position before any loss is taken, and soft targets spread their remaining mass over
    the eligible courses only."""
    soft = {k: batch.pop(k) for k in [k for k in batch if k.startswith("soft_")]}
    prior = {k: batch.pop(k) for k in [k for k in batch if k.startswith("prior_")]}
    jprior = {k: batch.pop(k) for k in [k for k in batch if k.startswith("jobprior_")]}
    if prior and prior_tokens is None:
        raise ValueError("a batch with a course prior needs prior_tokens (the course token ids)")
    if jprior and job_prior_tokens is None:
        raise ValueError("a batch with a job prior needs job_prior_tokens (the job token ids, stay last)")
    plain = decision_ids is None or weight == 1.0 or "decoder_input_ids" in batch
    if lean is not None and set(batch) != {"input_ids", "attention_mask", "labels"}:
        lean = None
    if plain and not soft and not prior and not jprior and lean is None:
        return model(**batch).loss
    labels = batch["labels"]
    if lean is not None:
        logits = lean.logits(batch["input_ids"], batch["attention_mask"], labels).float()
    else:
        logits = model(**batch).logits.float()
    elig = None
    if prior:
        rows = (prior["prior_pos"] >= 0).nonzero(as_tuple=True)[0]
        bias = prior["prior_bias"][rows].to(logits.dtype)
        at = (rows[:, None], prior["prior_pos"][rows][:, None], prior_tokens[None, :])
        logits = logits.index_put(at, bias, accumulate=True)
        # which courses each row can take (rows without a prior: every course)
        elig = torch.ones(labels.shape[0], len(prior_tokens), dtype=torch.bool, device=logits.device)
        elig[rows] = bias > EXCLUDED / 2
    if jprior:  # the job prior given the course taken, at each row's next-job position
        rows = (jprior["jobprior_pos"] >= 0).nonzero(as_tuple=True)[0]
        at = (rows[:, None], jprior["jobprior_pos"][rows][:, None], job_prior_tokens[None, :])
        logits = logits.index_put(at, jprior["jobprior_bias"][rows].to(logits.dtype), accumulate=True)
    if plain and not soft:
        return torch.nn.functional.cross_entropy(logits.flatten(0, 1), labels.flatten(), ignore_index=-100)
    ce = torch.nn.functional.cross_entropy(
        logits.flatten(0, 1), labels.flatten(), reduction="none", ignore_index=-100
    ).view_as(labels)
    w = (labels != -100).float()
    if decision_ids is not None and weight != 1.0:
        w = w * torch.where(torch.isin(labels, decision_ids), weight, 1.0)
    if soft:
        rows, slot = (soft["soft_pos"] >= 0).nonzero(as_tuple=True)
        pos = soft["soft_pos"][rows, slot]
        logp = torch.log_softmax(logits[rows, pos], dim=-1)  # (decisions, vocab)
        ids, p = soft["soft_ids"][rows, slot], soft["soft_p"][rows, slot]
        listed = logp.gather(1, ids)
        value = -(listed * p).sum(1)  # padded slots have p = 0
        other = soft["soft_other"][rows, slot]
        # no `if other.any()`: reading it back would stall a GPU each step
        if elig is not None:  # the detour mass over the courses each row can take
            n_listed = (p > 0).sum(1)
            ok = elig[rows]
            rest = (logp[:, prior_tokens] * ok).sum(1) - (listed * (p > 0)).sum(1)
            value = value - other * rest / (ok.sum(1) - n_listed).clamp(min=1)
        elif course_pool is not None:
            n_listed = (p > 0).sum(1)
            rest = logp[:, course_pool].sum(1) - (listed * (p > 0)).sum(1)
            value = value - other * rest / (len(course_pool) - n_listed).clamp(min=1)
        ce = ce.index_put((rows, pos), value)
    return (ce * w).sum() / w.sum()


def lean_forward(model, cfg: Config, accelerator):
    """The lean training forward for ``model`` when it mirrors it exactly and nothing wraps the
    model's forward (one process: DDP must see its own forward to synchronise gradients; no
    autocast, adapters, hooks or dropout), else None (transformers' forward)."""
    if (
        not cfg.train.lean_forward
        or accelerator.num_processes > 1
        or model is not accelerator.unwrap_model(model)
    ):
        return None
    from careerpath.scoring import LeanT5Training

    lean = LeanT5Training.build(model)
    if lean is not None and accelerator.is_main_process:
        log.info(
            "lean training forward: on (careerpath/scoring.py; --train.lean-forward false to use transformers')"
        )
    return lean


def _train_epoch(ctx: dict, state: RunState, dataloader, total_steps: int, bar) -> None:
    """One pass over ``dataloader`` (or until ``total_steps``). Step losses stay on the device and are
    read back every ``log_every`` steps: a ``.item()`` per step would make the host wait for the GPU
    each step, so kernel launches could never run ahead of the kernels (1 sync / log_every steps)."""
    accelerator, model, optimizer, scheduler, cfg = (ctx[k] for k in ("acc", "model", "opt", "sched", "cfg"))
    accelerator.step = state.batch_in_epoch  # accumulation windows restart each epoch
    running: list[torch.Tensor] = []
    pending: list[tuple[int, torch.Tensor, float]] = []  # (step, loss on the device, lr) not yet read
    try:
        for batch in dataloader:
            model.train()
            with accelerator.accumulate(model):
                loss = _loss(
                    model,
                    batch,
                    ctx.get("decision_ids"),
                    cfg.train.decision_weight,
                    ctx.get("course_pool"),
                    ctx.get("lean"),
                    ctx.get("prior_tokens"),
                    ctx.get("job_prior_tokens"),
                )
                if ctx.get("feedback") is not None:  # ratings from the demo, next to the replayed data
                    loss = loss + cfg.feedback.loss_weight * ctx["feedback"].loss(model, accelerator.device)
                accelerator.backward(loss)
                if accelerator.sync_gradients and cfg.train.max_grad_norm > 0:
                    accelerator.clip_grad_norm_(model.parameters(), cfg.train.max_grad_norm)
                optimizer.step()
                scheduler.step()
                optimizer.zero_grad(set_to_none=True)
            state.batch_in_epoch += 1
            running.append(loss.detach())
            if not accelerator.sync_gradients:
                continue
            state.step += 1
            pending.append((state.step, torch.stack(running).float().mean(), scheduler.get_last_lr()[0]))
            running = []
            bar.update(1)
            ckpt = cfg.train.checkpoint_every and state.step % cfg.train.checkpoint_every == 0
            if ckpt or state.step % cfg.train.log_every == 0 or state.step >= total_steps:
                _log_steps(accelerator, state, pending, cfg, bar)
            if ckpt:
                save_checkpoint(accelerator, cfg, state, ctx.get("best"))
            if state.step >= total_steps:
                return
    finally:
        _log_steps(accelerator, state, pending, cfg, bar)


def _log_steps(accelerator, state: RunState, pending: list, cfg: Config, bar) -> None:
    """Read the pending step losses back (one host-device sync) into the history and the trackers."""
    if not pending:
        return
    values = torch.stack([v for _, v, _ in pending]).cpu().tolist()
    if cfg.train.trackers:
        for (step, _, lr), value in zip(pending, values, strict=True):
            accelerator.log({"train/loss": value, "train/lr": lr}, step=step)
    done = [[step, value] for (step, _, _), value in zip(pending, values, strict=True)]
    pending.clear()
    state.losses += done
    bar.set_postfix(loss=f"{done[-1][1]:.4f}")


def _end_of_epoch(ctx: dict, state: RunState, val_rows: list[dict]) -> None:
    accelerator, cfg = ctx["acc"], ctx["cfg"]
    metrics = validate(
        accelerator,
        ctx["model"],
        ctx["tok"],
        ctx["family"],
        val_rows,
        cfg,
        ctx.get("prior"),
        ctx.get("job_prior"),
    )
    metrics.update(epoch=state.epoch, step=state.step)
    state.epochs.append(metrics)
    if accelerator.is_main_process:
        log.info(
            "epoch %d validation: next_course_acc %.3f next_job_acc %.3f bleu %.1f exact %.3f",
            state.epoch,
            metrics["next_course_acc"],
            metrics["next_job_acc"],
            metrics["bleu"],
            metrics["exact_match"],
        )
    if cfg.train.trackers:
        scalars = {f"val/{k}": v for k, v in metrics.items() if isinstance(v, float)}
        accelerator.log(scalars, step=state.step)
    # the best epoch: the lowest full-validation log-loss through the catalog scorer, with the
    # priors (what recommendations and evaluation use), where the model has them; else greedy
    # generation accuracy on the validation sample
    score = metrics["next_course_acc"]
    if ctx.get("job_prior") is not None and val_rows:
        metrics["val_log_loss"] = scorer_log_loss(ctx, val_rows)
        score = -metrics["val_log_loss"]["total"]
        if accelerator.is_main_process:
            log.info(
                "epoch %d validation log-loss through the scorer: %s", state.epoch, metrics["val_log_loss"]
            )
    if score > state.best_metric:
        state.best_metric, state.best_epoch = score, state.epoch
        ctx["best"] = _trainable_state(accelerator.unwrap_model(ctx["model"]))


def scorer_log_loss(ctx: dict, rows: list[dict], batch: int = 64) -> dict[str, float]:
    """Mean next-course and next-job log-loss of ``rows`` under the catalog scorer with the
    model's priors (model scale 1, as trained): every row, not a sample."""
    from careerpath.scoring import CatalogScorer

    model = ctx["acc"].unwrap_model(ctx["model"])
    was_training = model.training
    prior, job_prior = ctx["prior"], ctx["job_prior"]
    scorer = CatalogScorer(
        model, ctx["tok"], prior.catalog, kind=ctx["family"], prior=prior, job_prior=job_prior
    )
    course_pos = {c: i for i, c in enumerate(scorer.course_ids)}
    job_pos = {j: i for i, j in enumerate(scorer.job_ids)}
    rows = [r for r in rows if r.get("next_course_id") in course_pos and r.get("next_job_id") in job_pos]
    nll_c, nll_j = [], []
    for b in range(0, len(rows), batch):
        part = rows[b : b + batch]
        c_lp, j_lp = scorer.score(
            [r["input_text"] for r in part], [list(r.get("skill_ids") or []) for r in part]
        )
        for i, r in enumerate(part):
            nll_c.append(-float(c_lp[i, course_pos[r["next_course_id"]]]))
            nll_j.append(-float(j_lp[i, job_pos[r["next_job_id"]]]))
    model.train(was_training)
    course, job = float(np.mean(np.minimum(nll_c, 50))), float(np.mean(np.minimum(nll_j, 50)))
    return {"course": round(course, 5), "job": round(job, 5), "total": round(course + job, 5), "n": len(rows)}


def fit(
    ctx: dict,
    state: RunState,
    dataloader,
    sampler: LengthGroupedBatches,
    val_rows: list[dict],
    total_steps: int,
):
    accelerator, cfg = ctx["acc"], ctx["cfg"]
    from careerpath.cli_common import show_progress

    quiet = not show_progress()  # `careerpath -q`
    bar = tqdm(
        total=total_steps,
        initial=state.step,
        desc="train",
        disable=quiet or not accelerator.is_local_main_process,
    )
    while state.step < total_steps:
        sampler.set_epoch(state.epoch)
        dataloader.set_epoch(state.epoch)
        skipped = state.batch_in_epoch
        loader = accelerator.skip_first_batches(dataloader, skipped) if skipped else dataloader
        _train_epoch(ctx, state, loader, total_steps, bar)
        if state.batch_in_epoch >= len(dataloader):
            if cfg.train.eval_every_epoch and val_rows:
                _end_of_epoch(ctx, state, val_rows)
            state.epoch += 1
            state.batch_in_epoch = 0
    bar.close()


# ---------------------------------------------------------------- outputs


def write_outputs(
    model,
    tokenizer,
    cfg: Config,
    metrics: dict,
    state: RunState,
    prior: CoursePrior | None = None,
    job_prior: JobPrior | None = None,
) -> Path:
    """Write model/adapter, tokenizer, config, metrics, curve and card atomically into output_dir."""
    out_dir = Path(cfg.train.output_dir).resolve()
    # this run's checkpoints and logs stay in the folder; the rest is replaced
    with atomic_dir(out_dir, keep=("checkpoints", "logs")) as tmp:
        modeling.save_model(model, tokenizer, tmp, cfg.model.kind, cfg.model.model_name, final_dir=out_dir)
        catalog = Path(cfg.data.data_dir) / "catalog"
        if catalog.is_dir():  # the recommender ranks this catalog, so it travels with the model
            shutil.copytree(catalog, tmp / "catalog")
        context = Path(cfg.data.data_dir) / CONTEXT_FILE
        if context.is_file():  # how the inputs were made (catalog context), for the recommender
            shutil.copy2(context, tmp / CONTEXT_FILE)
        if prior is not None:  # the model's scores are only right with it
            prior.save(tmp)
        if job_prior is not None:
            job_prior.save(tmp)
        save_config(_portable(cfg), tmp / "config.yaml")
        (tmp / "metrics.json").write_text(json.dumps(metrics, indent=2))
        modelcard.plot_curve(state.losses, state.epochs, tmp / "training_curve.png")
        modelcard.write_model_card(tmp, cfg, metrics)
    return out_dir


def _portable(cfg: Config) -> Config:
    """The config as saved with the model: the dataset path absolute, so that commands reading it
    (simulate-feedback, retrains) work from any directory; ``--data`` overrides it on another machine."""
    saved = copy.deepcopy(cfg)
    saved.data.data_dir = str(Path(cfg.data.data_dir).resolve())
    return saved


def feedback_test_metrics(
    model, tokenizer, family: str, cfg: Config, prior: CoursePrior | None = None
) -> dict:
    """Full-catalog next-course and next-job ranking on (a prefix of) the test split."""
    from careerpath.metrics import evaluate_scorer
    from careerpath.scoring import CatalogScorer, ModelScorer
    from data_prep.catalog import load_catalog

    rows = load_rows(cfg.data.data_dir, "test", cfg.feedback.eval_test_examples)
    catalog = load_catalog(Path(cfg.data.data_dir) / "catalog")
    model.eval()
    scorer = CatalogScorer(model, tokenizer, catalog, kind=family, prior=prior)
    m = evaluate_scorer(ModelScorer(scorer, progress=False), rows, scorer.course_ids, scorer.job_ids[:-1])
    return {
        "n": len(rows),
        "next_course_hit@10": round(m["next_course"]["hit@10"], 4),
        "next_course_acc@1": round(m["next_course"]["acc@1"], 4),
        "next_course_mrr": round(m["next_course"]["mrr"], 4),
        "next_job_acc@1": round(m["next_job"]["acc@1"], 4),
    }


def _final_metrics(accelerator, state: RunState, cfg: Config, elapsed: float) -> dict:
    best = next((e for e in state.epochs if e["epoch"] == state.best_epoch), None)
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    return {
        "model_version": f"{Path(cfg.train.output_dir).name}@{stamp}",
        "init_from": cfg.train.init_from or None,
        "num_processes": accelerator.num_processes,
        "distributed_type": str(accelerator.distributed_type),
        "mixed_precision": accelerator.mixed_precision,
        "steps": state.step,
        "train_seconds": round(elapsed, 1),
        "best_epoch": state.best_epoch,
        "final": best or (state.epochs[-1] if state.epochs else {}),
        "epochs": state.epochs,
        "train_loss": state.losses,
        "model_kind": cfg.model.kind,
        "lora": cfg.lora.enabled,
    }


# ---------------------------------------------------------------- entry point


def course_prior(
    cfg: Config, tokenizer, family: str, train_rows: list[dict], soft: SoftTargets | None
) -> CoursePrior | None:
    """The course prior to train with (careerpath/prior.py), fitted on ``train_rows``, or None:
    it needs a seq2seq model with one token per course (``soft``'s course tokens: the tiny T5) and a
    dataset with catalog context (context.json)."""
    if cfg.train.course_prior == "never":
        return None
    from data_prep.catalog import load_catalog
    from data_prep.context import retriever_for

    why = None
    if family != "seq2seq" or soft is None:
        why = "a seq2seq model with one token per course name (model.kind tiny_t5) and soft targets on"
    elif not (Path(cfg.data.data_dir) / CONTEXT_FILE).is_file():
        why = "a dataset built with catalog context (context.json; context.enabled in the data config)"
    retriever = None
    if why is None:
        retriever = retriever_for(cfg.data.data_dir, load_catalog(Path(cfg.data.data_dir) / "catalog"))
        if retriever is None:
            why = "a dataset built with catalog context enabled"
    if why is not None:
        if cfg.train.course_prior == "always":
            raise ValueError(f"--train.course-prior always needs {why}; use auto or never")
        log.info("course prior: off (needs %s)", why)
        return None
    prior = LatentClassPrior.fit(retriever, train_rows)
    log.info(
        "course prior: on, latent classes %s (fitted on %d training rows)",
        prior.weights,
        min(len(train_rows), 6000),
    )
    return prior


def fit_experts(
    model,
    tokenizer,
    family: str,
    cfg: Config,
    prior: CoursePrior,
    job_prior: JobPrior,
    val_rows,
    metrics: dict,
) -> None:
    """How much of the model's own scores each prior takes (``model_scale``), chosen on the
    validation rows by log-loss through the catalog scorer (careerpath/job_prior.choose_scales);
    recorded in ``metrics``."""
    from careerpath.scoring import CatalogScorer

    model.eval()  # the priors hold the catalog they were fitted on: the one the model ranks
    scorer = CatalogScorer(model, tokenizer, prior.catalog, kind=family, prior=prior, job_prior=job_prior)
    report = choose_scales(scorer, val_rows)
    metrics["job_prior"] = job_prior.params
    metrics["model_scale"] = {"course": prior.model_scale, "job": job_prior.model_scale}
    metrics["validation_log_loss_by_scale"] = {
        k: {str(s): round(v, 5) for s, v in d.items()} for k, d in report.items()
    }
    log.info(
        "job prior %s; model scale chosen on validation: course %s, job %s (log-loss by scale %s)",
        job_prior.params,
        prior.model_scale,
        job_prior.model_scale,
        metrics["validation_log_loss_by_scale"],
    )


def _prepare_data(cfg: Config):
    train_rows = load_rows(cfg.data.data_dir, "train", cfg.data.max_train_examples)
    val_rows = load_rows(cfg.data.data_dir, "validation", cfg.data.max_eval_examples)
    if not train_rows:
        raise ValueError(f"{cfg.data.data_dir}/train.jsonl has no rows")
    return train_rows, val_rows


def _restore_best(model, best: dict | None) -> None:
    if best:
        missing = set(best) - {n for n, _ in model.named_parameters()}
        if missing:
            raise RuntimeError(f"best weights do not fit the model: {sorted(missing)[:3]}")
        model.load_state_dict(best, strict=False)


def run_training(cfg: Config) -> Path:
    """Train, validate each epoch, keep the best epoch by next-course accuracy, save; returns output_dir."""
    start = time.time()
    accelerator = make_accelerator(cfg)
    set_seed(cfg.train.seed)
    train_rows, val_rows = _prepare_data(cfg)
    if cfg.train.init_from:  # warm start: the previous model and its tokenizer
        model, tokenizer, kind = modeling.load_for_inference(cfg.train.init_from, trainable=True)
        family = kind
    else:
        train_texts = [r["input_text"] for r in train_rows] + [r["target_text"] for r in train_rows]
        model, tokenizer, family = modeling.build(cfg, train_texts)
    soft = None
    if cfg.train.soft_targets != "never":
        soft = SoftTargets.from_catalog(tokenizer, cfg.data.data_dir) if family == "seq2seq" else None
        if soft is None and cfg.train.soft_targets == "always":
            raise ValueError(
                "--train.soft-targets always needs a seq2seq model with one token per catalog name (model.kind "
                "tiny_t5 with entity_tokens) and a dataset with its catalog/ folder; use auto or never"
            )
    prior = course_prior(cfg, tokenizer, family, train_rows, soft)
    job_prior = JobPrior.fit(prior.retriever, train_rows) if prior is not None else None
    if job_prior is not None:
        job_prior.model_scale = 1.0  # the model is trained as a residual on it
        log.info("job prior: on, %s (fitted on the training rows)", job_prior.params)
    examples = encode_rows(train_rows, tokenizer, family, cfg, soft, prior, job_prior)
    course_token = soft.course_token if soft is not None else {}
    job_token = soft.job_token if soft is not None else {}
    if soft is not None:
        with_soft = sum(1 for e in examples if e.get("soft"))
        if with_soft == 0 and cfg.train.soft_targets == "always":
            raise ValueError(
                f"--train.soft-targets always: no row of {cfg.data.data_dir}/train.jsonl has probs_visible"
            )
        log.info("soft targets on %d of %d examples", with_soft, len(examples))
        soft = soft if with_soft else None
    elif cfg.train.soft_targets == "auto":
        log.info("soft targets: not available for this model/dataset; training on the sampled choices")
    sampler, dataloader = make_dataloader(examples, tokenizer, cfg, accelerator.device)
    updates_per_epoch = math.ceil(math.ceil(len(sampler) / accelerator.num_processes) / cfg.train.grad_accum)
    total = updates_per_epoch * cfg.train.epochs
    total = min(total, cfg.train.max_steps) if cfg.train.max_steps else total
    optimizer, scheduler = make_optimizer(model, cfg, total, accelerator.num_processes, accelerator.device)
    model, optimizer, dataloader, scheduler = accelerator.prepare(model, optimizer, dataloader, scheduler)
    if cfg.train.trackers:
        accelerator.init_trackers("careerpath", config=_flat_config(cfg))
    state, best = RunState(), None
    if (ckpt := find_checkpoint(cfg)) is not None:
        state, best = load_checkpoint(accelerator, ckpt)
    ctx = {"acc": accelerator, "model": model, "opt": optimizer, "sched": scheduler, "cfg": cfg}
    ctx.update(tok=tokenizer, family=family, best=best)
    ctx["lean"] = lean_forward(model, cfg, accelerator)
    if soft is not None:
        ctx["course_pool"] = soft.course_pool.to(accelerator.device)  # once, not per step
    if job_prior is not None:
        ctx["job_prior"] = job_prior
    if prior is not None:
        ctx["prior"] = prior
        tokens = [course_token[c] for c in prior.course_ids]
        ctx["prior_tokens"] = torch.tensor(tokens, device=accelerator.device)
    if job_prior is not None:
        ctx["job_prior_tokens"] = torch.tensor(
            [job_token[j] for j in job_prior.job_ids], device=accelerator.device
        )
    if cfg.train.decision_weight != 1.0 and family == "seq2seq":
        ids = decision_token_ids(tokenizer, cfg.data.data_dir)
        ctx["decision_ids"] = None if ids is None else ids.to(accelerator.device)
    feedback_report = reranker = None
    if cfg.feedback.feedback_db:
        if accelerator.num_processes > 1:
            raise ValueError("feedback retraining runs in one process; drop torchrun/--num_processes")
        from data_prep.catalog import load_catalog

        start_id = getattr(accelerator.unwrap_model(model).config, "decoder_start_token_id", None)
        ctx["feedback"], feedback_report, reranker = feedback_train.load_feedback(
            cfg,
            load_catalog(Path(cfg.data.data_dir) / "catalog"),
            tokenizer,
            family,
            tokenizer.pad_token_id if start_id is None else start_id,
            prior,
        )
    if accelerator.is_main_process:
        log.info(
            "training %s: %d examples, %d steps, %d process(es)",
            cfg.model.kind,
            len(examples),
            total,
            accelerator.num_processes,
        )
    fit(ctx, state, dataloader, sampler, val_rows, total)
    if not state.epochs and val_rows:  # max_steps ended mid-epoch, or per-epoch eval was off
        _end_of_epoch(ctx, state, val_rows)
    final_model = accelerator.unwrap_model(model)
    _restore_best(final_model, ctx.get("best"))
    metrics = _final_metrics(accelerator, state, cfg, time.time() - start)
    if prior is not None:
        metrics["course_prior_weights"] = prior.weights
        if accelerator.is_main_process and job_prior is not None and ctx.get("feedback") is None:
            fit_experts(final_model, tokenizer, family, cfg, prior, job_prior, val_rows, metrics)
        elif job_prior is not None:  # validation has no ratings: it cannot judge what they taught
            metrics["model_scale"] = {"course": prior.model_scale, "job": job_prior.model_scale}
            log.info("feedback retrain: the model keeps its full say beside its priors (model scale 1)")
    if feedback_report is not None:  # counts only: no profile, text or session ever reaches the card
        metrics["feedback"] = feedback_report
        metrics["test_after_feedback"] = feedback_test_metrics(final_model, tokenizer, family, cfg, prior)
        log.info("held-out test after the feedback retrain: %s", metrics["test_after_feedback"])
    out_dir = Path(cfg.train.output_dir).resolve()
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        out_dir = write_outputs(final_model, tokenizer, cfg, metrics, state, prior, job_prior)
        if reranker is not None:
            reranker.save(out_dir)
        if cfg.hub.push_to_hub:
            from careerpath import hub

            hub.push_to_hub(out_dir, cfg.hub.hub_model_id, private=cfg.hub.private)
    accelerator.wait_for_everyone()
    accelerator.end_training()
    return out_dir
