"""The training loop: the loss (soft targets, priors, decision weights), one epoch, the
end-of-epoch validation that picks the best epoch, and checkpoints for an exact resume.

The loop's state lives in two objects: :class:`TrainContext` (what the run was set up with: the
accelerator, model, optimizer, priors' token ids) and :class:`RunState` (the counters and history a
checkpoint carries)."""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from accelerate import Accelerator
from accelerate.utils import DistributedType, gather_object
from safetensors.torch import load_file, save_file
from tqdm.auto import tqdm

from careerpath.core.cli_common import show_progress
from careerpath.core.config import Config
from careerpath.model import generation
from careerpath.model.job_prior import JobPrior
from careerpath.model.prior import EXCLUDED, CoursePrior
from careerpath.model.scoring import CatalogScorer, LeanT5Training
from careerpath.training.training_data import LengthGroupedBatches

log = logging.getLogger(__name__)
CHECKPOINT_RE = re.compile(r"step_(\d+)$")


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


@dataclass
class TrainContext:
    """What one run trains with, set up once by :func:`careerpath.training.training.run_training`: the
    prepared accelerate objects, the tokenizer and model family, and the tensors and priors the loss
    and validation need (None where the run has none). ``best`` holds the trainable weights of the
    best epoch so far."""

    accelerator: Accelerator
    model: torch.nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: object
    cfg: Config
    tokenizer: object = None
    family: str = ""
    best: dict | None = None
    lean: LeanT5Training | None = None  # the lean training forward (careerpath/model/scoring.py)
    course_pool: torch.Tensor | None = None  # course token ids, for soft targets' remaining mass
    prior: CoursePrior | None = None
    job_prior: JobPrior | None = None
    prior_tokens: torch.Tensor | None = None  # the course prior's token ids, catalog order
    job_prior_tokens: torch.Tensor | None = None  # the job prior's token ids, stay last
    decision_ids: torch.Tensor | None = None  # decision tokens weighted by train.decision_weight
    feedback: object = None  # careerpath.training.feedback_train's ratings loss, on a feedback retrain


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


# ---------------------------------------------------------------- validation


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
            accelerator.unwrap_model(model, keep_torch_compile=False),
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
    by_idx = dict(gather_object(pairs))
    predictions = [by_idx[i] for i in idx]
    metrics = generation.compute_metrics(predictions, [r["target_text"] for r in rows])
    metrics["examples"] = [
        {"input": r["input_text"], "target": r["target_text"], "prediction": p}
        for r, p in zip(rows[:3], predictions[:3], strict=True)
    ]
    return metrics


# ---------------------------------------------------------------- the loop


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
    ``lean``: a :class:`~careerpath.model.scoring.LeanT5Training` of ``model`` for the forward.
    With a course prior in the batch (``prior_pos``, ``prior_bias``; see careerpath/model/prior.py), each
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
    # logits of the target's real positions only, one row each (the padded ones carry no loss):
    # the lean forward skips the output layer there; row of position (i, t): at[i, t]
    keep = labels != -100
    at = keep.flatten().cumsum(0).view_as(labels) - 1
    targets = labels[keep]
    if lean is not None:
        logits = lean.logits(batch["input_ids"], batch["attention_mask"], labels, keep=keep).float()
    else:
        logits = model(**batch).logits.float()[keep]
    elig = None
    if prior:
        rows = (prior["prior_pos"] >= 0).nonzero(as_tuple=True)[0]
        bias = prior["prior_bias"][rows].to(logits.dtype)
        where = (at[rows, prior["prior_pos"][rows]][:, None], prior_tokens[None, :])
        logits = logits.index_put(where, bias, accumulate=True)
        # which courses each row can take (rows without a prior: every course)
        elig = torch.ones(labels.shape[0], len(prior_tokens), dtype=torch.bool, device=logits.device)
        elig[rows] = bias > EXCLUDED / 2
    if jprior:  # the job prior given the course taken, at each row's next-job position
        rows = (jprior["jobprior_pos"] >= 0).nonzero(as_tuple=True)[0]
        where = (at[rows, jprior["jobprior_pos"][rows]][:, None], job_prior_tokens[None, :])
        logits = logits.index_put(where, jprior["jobprior_bias"][rows].to(logits.dtype), accumulate=True)
    if plain and not soft:
        return torch.nn.functional.cross_entropy(logits, targets)
    ce = torch.nn.functional.cross_entropy(logits, targets, reduction="none")
    w = torch.ones_like(ce)
    if decision_ids is not None and weight != 1.0:
        w = w * torch.where(torch.isin(targets, decision_ids), weight, 1.0)
    if soft:
        rows, slot = (soft["soft_pos"] >= 0).nonzero(as_tuple=True)
        pos = at[rows, soft["soft_pos"][rows, slot]]
        logp = torch.log_softmax(logits[pos], dim=-1)  # (decisions, vocab)
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
        ce = ce.index_put((pos,), value)
    return (ce * w).sum() / w.sum()


def lean_forward(model, cfg: Config, accelerator):
    """The lean training forward for ``model`` when it mirrors it exactly and nothing wraps the
    model's forward but accelerate's autocast on a CPU (one process: DDP must see its own forward
    to synchronise gradients; no compilation, adapters, hooks or dropout), else None
    (transformers' forward). Under autocast on a GPU it is not used until measured there
    (`benchmarks/gpu_check.sh` has not run with it)."""
    if (
        not cfg.train.lean_forward
        or cfg.train.compile != "no"  # compiled: transformers' forward (unwrap keeps the compiled wrapper)
        or accelerator.num_processes > 1
        or model is not accelerator.unwrap_model(model)
    ):
        return None
    amp = accelerator.native_amp and "_original_forward" in model.__dict__  # prepare's autocast wrapper
    if amp and accelerator.device.type != "cpu":
        return None  # measured under autocast on CPUs only: a GPU keeps transformers' forward
    lean = LeanT5Training.build(model, autocast=accelerator.autocast if amp else None)
    if lean is not None and accelerator.is_main_process:
        log.info(
            "lean training forward: on (careerpath/model/scoring.py; --train.lean-forward false to use transformers')"
        )
    return lean


def train_epoch(ctx: TrainContext, state: RunState, dataloader, total_steps: int, bar) -> None:
    """One pass over ``dataloader`` (or until ``total_steps``). Step losses stay on the device and are
    read back every ``log_every`` steps: a ``.item()`` per step would make the host wait for the GPU
    each step, so kernel launches could never run ahead of the kernels (1 sync / log_every steps)."""
    accelerator, model, optimizer, scheduler, cfg = (
        ctx.accelerator,
        ctx.model,
        ctx.optimizer,
        ctx.scheduler,
        ctx.cfg,
    )
    accelerator.step = state.batch_in_epoch  # accumulation windows restart each epoch
    running: list[torch.Tensor] = []
    pending: list[tuple[int, torch.Tensor, float]] = []  # (step, loss on the device, lr) not yet read
    try:
        for batch in dataloader:
            if not model.training:  # (model.train() walks every module: not each step)
                model.train()
            with accelerator.accumulate(model):
                loss = _loss(
                    model,
                    batch,
                    ctx.decision_ids,
                    cfg.train.decision_weight,
                    ctx.course_pool,
                    ctx.lean,
                    ctx.prior_tokens,
                    ctx.job_prior_tokens,
                )
                if ctx.feedback is not None:  # ratings from the demo, next to the replayed data
                    loss = loss + cfg.feedback.loss_weight * ctx.feedback.loss(model, accelerator.device)
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
                save_checkpoint(accelerator, cfg, state, ctx.best)
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


def end_of_epoch(ctx: TrainContext, state: RunState, val_rows: list[dict]) -> None:
    """Validate, record the epoch's metrics in ``state`` and keep its weights in ``ctx.best``
    when it is the best epoch so far."""
    accelerator, cfg = ctx.accelerator, ctx.cfg
    metrics = validate(
        accelerator,
        ctx.model,
        ctx.tokenizer,
        ctx.family,
        val_rows,
        cfg,
        ctx.prior,
        ctx.job_prior,
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
    if ctx.job_prior is not None and val_rows:
        metrics["val_log_loss"] = scorer_log_loss(ctx, val_rows)
        score = -metrics["val_log_loss"]["total"]
        if accelerator.is_main_process:
            log.info(
                "epoch %d validation log-loss through the scorer: %s", state.epoch, metrics["val_log_loss"]
            )
    if score > state.best_metric:
        state.best_metric, state.best_epoch = score, state.epoch
        ctx.best = _trainable_state(accelerator.unwrap_model(ctx.model, keep_torch_compile=False))


def scorer_log_loss(ctx: TrainContext, rows: list[dict], batch: int = 64) -> dict[str, float]:
    """Mean next-course and next-job log-loss of ``rows`` under the catalog scorer with the
    model's priors (model scale 1, as trained): every row, not a sample."""
    model = ctx.accelerator.unwrap_model(ctx.model, keep_torch_compile=False)
    was_training = model.training
    prior, job_prior = ctx.prior, ctx.job_prior
    scorer = CatalogScorer(
        model, ctx.tokenizer, prior.catalog, kind=ctx.family, prior=prior, job_prior=job_prior
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
    ctx: TrainContext,
    state: RunState,
    dataloader,
    sampler: LengthGroupedBatches,
    val_rows: list[dict],
    total_steps: int,
) -> None:
    """Train until ``total_steps`` updates, epoch after epoch (from where ``state`` left off on a
    resume), validating at the end of each epoch when ``train.eval_every_epoch``."""
    accelerator, cfg = ctx.accelerator, ctx.cfg
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
        train_epoch(ctx, state, loader, total_steps, bar)
        if state.batch_in_epoch >= len(dataloader):
            if cfg.train.eval_every_epoch and val_rows:
                end_of_epoch(ctx, state, val_rows)
            state.epoch += 1
            state.batch_in_epoch = 0
    bar.close()
