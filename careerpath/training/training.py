"""The accelerate training run: data -> model -> fit (checkpoints, resume) -> validate -> save.

A plain loop in the style of transformers' ``run_summarization_no_trainer.py``: the same code runs
on one CPU, ``torchrun``/``accelerate launch`` multi-process (DDP, FSDP) and GPUs with bf16.

This module is the entry point (:func:`run_training`) with the run's setup (threads, accelerator,
optimizer) and its outputs (the model folder, metrics). The pieces live beside it:
``training_data.py`` (encoding, soft targets, batches), ``training_loop.py`` (the loss, the epoch
loop, validation, checkpoints) and ``training_priors.py`` (fitting the priors, choosing their scales).
"""

from __future__ import annotations

import copy
import gc
import json
import logging
import math
import os
import shutil
import time
from pathlib import Path

import torch
from accelerate import Accelerator
from accelerate.utils import DataLoaderConfiguration, TorchDynamoPlugin, set_seed
from transformers import get_scheduler

from careerpath.core.atomic import atomic_dir
from careerpath.core.catalog import load_catalog
from careerpath.core.config import Config, save_config
from careerpath.core.context import CONTEXT_FILE
from careerpath.core.metrics import evaluate_scorer
from careerpath.model import hub, modelcard, modeling
from careerpath.model.job_prior import JobPrior
from careerpath.model.prior import CoursePrior
from careerpath.model.scoring import CatalogScorer, ModelScorer
from careerpath.training import feedback_train
from careerpath.training.training_data import (
    SoftTargets,
    decision_token_ids,
    encode_rows,
    load_rows,
    make_collate,
    make_dataloader,
    soft_targets_for,
    soft_targets_in_use,
    source_multiple,
)
from careerpath.training.training_loop import (
    RunState,
    TrainContext,
    _loss,
    end_of_epoch,
    find_checkpoint,
    fit,
    lean_forward,
    load_checkpoint,
)
from careerpath.training.training_priors import course_cross_for, course_prior, fit_experts, job_prior_for

# the public API; SoftTargets, encode_rows, load_rows, make_collate and _loss are re-exported for
# callers and tests, the rest of the run lives in training_*.py
__all__ = [
    "SoftTargets",
    "_loss",
    "default_threads",
    "encode_rows",
    "feedback_test_metrics",
    "load_rows",
    "make_accelerator",
    "make_collate",
    "make_optimizer",
    "physical_cores",
    "run_training",
    "write_outputs",
]

log = logging.getLogger(__name__)


# ---------------------------------------------------------------- setup


def cpu_has_native_bf16() -> bool:
    """The CPU multiplies bfloat16 in hardware (AVX512-BF16, AMX). Measured on a 2-core AMD EPYC with
    AVX512-BF16: bf16 matmuls of the tiny T5's shapes about 4x faster than float32, a training step
    1.5x faster, `python train.py` 188 -> 143 s (docs/experiments/2026-12-05-cpu-bf16-training.md).
    Without them bf16 is emulated, and slower than float32."""
    cpu = getattr(torch, "cpu", None)
    checks = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
    return any(bool(getattr(cpu, name, lambda: False)()) for name in checks)


def resolve_mixed_precision(cfg: Config, cpu: bool | None = None) -> str:
    """``train.mixed_precision`` with ``auto`` resolved: bf16 where the hardware computes it natively
    (a CUDA GPU with bf16; without one, or with ``cpu``, a CPU with AVX512-BF16 or AMX), else "no"
    (float32). Never fp16, which T5's activations overflow."""
    mp = cfg.train.mixed_precision
    if mp != "auto":
        return mp
    if cpu is None:
        cpu = not torch.cuda.is_available()
    if not cpu:
        return "bf16" if torch.cuda.is_bf16_supported() else "no"
    return "bf16" if cpu_has_native_bf16() else "no"


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


# glibc's malloc hands blocks above its mmap threshold back to the kernel on free and trims the
# heap's top above its trim threshold, so a training step's large tensors (logits, their
# gradients, folded embeddings) come back as fresh pages that fault in on first touch: about 2,300
# page faults a step for the tiny T5 in bf16 on CPU. Raised once per process (mallopt):
MMAP_THRESHOLD = 32 * 2**20  # glibc's own ceiling for its dynamic threshold
TRIM_THRESHOLD = 128 * 2**20


def tune_host_allocator() -> bool:
    """Keep freed tensor memory in the process for reuse (glibc only; elsewhere a no-op, False).
    Measured on the tiny T5, bf16, 2 cores: page faults per step about 2,250 -> 37 and the step
    33-35 -> 31.5 ms, peak RSS unchanged (1.52 GB); the benchmark gives the Trainer the same."""
    import ctypes
    import platform

    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return False
    m_trim_threshold, m_mmap_threshold = -1, -3  # malloc.h
    return bool(libc.mallopt(m_mmap_threshold, MMAP_THRESHOLD)) and bool(
        libc.mallopt(m_trim_threshold, TRIM_THRESHOLD)
    )


def make_accelerator(cfg: Config) -> Accelerator:
    t = cfg.train
    torch.set_num_threads(t.num_threads or default_threads())
    tune_host_allocator()
    trackers = list(t.trackers) or None
    if t.compile != "no":  # prepare() compiles the whole model: one graph, dynamic shapes after the
        # first new length (regional compilation of T5's blocks recompiled past dynamo's limit of 8:
        # the blocks with and without a position bias, the leaf modules sharing one wrapper)
        dynamo = TorchDynamoPlugin(backend="inductor", mode=t.compile, use_regional_compilation=False)
    else:
        dynamo = TorchDynamoPlugin(backend="no")
    accelerator = Accelerator(
        # without cpu=True accelerate ignores torchrun's WORLD_SIZE on a CPU-only machine
        cpu=not torch.accelerator.is_available(),
        dynamo_plugin=dynamo,
        gradient_accumulation_steps=t.grad_accum,
        mixed_precision=resolve_mixed_precision(cfg),
        # with pinned host batches (see run_training) the copy to the GPU does not block the host
        dataloader_config=DataLoaderConfiguration(non_blocking=True),
        log_with=trackers,
        project_dir=str(Path(t.output_dir) / "logs") if trackers else None,
    )
    # accelerate's state is shared by the whole process and keeps the plugin of its first Accelerator:
    # a later run in the same process (the tests, a quickstart after a run) must get its own
    accelerator.state.dynamo_plugin = dynamo
    return accelerator


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


def _prepare_data(cfg: Config):
    train_rows = load_rows(cfg.data.data_dir, "train", cfg.data.max_train_examples)
    val_rows = load_rows(cfg.data.data_dir, "validation", cfg.data.max_eval_examples)
    if not train_rows:
        raise ValueError(f"{cfg.data.data_dir}/train.jsonl has no rows")
    return train_rows, val_rows


def _load_model(cfg: Config, train_rows: list[dict]):
    """(model, tokenizer, family): a warm start from ``train.init_from`` (the previous model and its
    tokenizer), else a new model whose tokenizer is built on the training texts."""
    if cfg.train.init_from:
        return modeling.load_for_inference(cfg.train.init_from, trainable=True)
    train_texts = [r["input_text"] for r in train_rows] + [r["target_text"] for r in train_rows]
    return modeling.build(cfg, train_texts)


def _total_steps(cfg: Config, sampler, accelerator: Accelerator) -> int:
    """Optimizer updates in the run: per epoch (batches shared by the processes, accumulated) times
    the epochs, capped by ``train.max_steps``."""
    updates_per_epoch = math.ceil(math.ceil(len(sampler) / accelerator.num_processes) / cfg.train.grad_accum)
    total = updates_per_epoch * cfg.train.epochs
    return min(total, cfg.train.max_steps) if cfg.train.max_steps else total


def _context(
    accelerator: Accelerator,
    prepared: tuple,
    cfg: Config,
    tokenizer,
    family: str,
    tokens: SoftTargets | None,
    soft: SoftTargets | None,
    prior: CoursePrior | None,
    job_prior: JobPrior | None,
) -> TrainContext:
    """The loop's context: the prepared (model, optimizer, scheduler), and on the device once (not
    per step) the course pool of the soft targets in use and the token ids of the catalog names the
    priors and decision weights apply to (``tokens``: the catalog's tokens, in use or not)."""
    model, optimizer, scheduler = prepared
    device = accelerator.device
    ctx = TrainContext(accelerator, model, optimizer, scheduler, cfg, tokenizer=tokenizer, family=family)
    ctx.lean = lean_forward(model, cfg, accelerator)
    if soft is not None:
        ctx.course_pool = soft.course_pool.to(device)
    ctx.prior, ctx.job_prior = prior, job_prior
    if prior is not None:
        ctx.prior_tokens = torch.tensor([tokens.course_token[c] for c in prior.course_ids], device=device)
    if job_prior is not None:
        ctx.job_prior_tokens = torch.tensor([tokens.job_token[j] for j in job_prior.job_ids], device=device)
    if cfg.train.decision_weight != 1.0 and family == "seq2seq":
        ids = decision_token_ids(tokenizer, cfg.data.data_dir)
        ctx.decision_ids = None if ids is None else ids.to(device)
    return ctx


def _attach_feedback(ctx: TrainContext, prior: CoursePrior | None):
    """On a feedback retrain (``feedback.feedback_db``), put the ratings loss in ``ctx``; returns
    (the feedback report, the reranker), or (None, None) without feedback."""
    cfg, accelerator = ctx.cfg, ctx.accelerator
    if not cfg.feedback.feedback_db:
        return None, None
    if accelerator.num_processes > 1:
        raise ValueError("feedback retraining runs in one process; drop torchrun/--num_processes")
    start_id = getattr(accelerator.unwrap_model(ctx.model).config, "decoder_start_token_id", None)
    ctx.feedback, report, reranker = feedback_train.load_feedback(
        cfg,
        load_catalog(Path(cfg.data.data_dir) / "catalog"),
        ctx.tokenizer,
        ctx.family,
        ctx.tokenizer.pad_token_id if start_id is None else start_id,
        prior,
    )
    return report, reranker


def _restore_best(model, best: dict | None) -> None:
    if best:
        missing = set(best) - {n for n, _ in model.named_parameters()}
        if missing:
            raise RuntimeError(f"best weights do not fit the model: {sorted(missing)[:3]}")
        model.load_state_dict(best, strict=False)


def _prior_metrics(ctx: TrainContext, final_model, val_rows: list[dict], metrics: dict) -> None:
    """The priors' part of ``metrics``: their weights and the model scales, chosen on validation
    (or kept at 1 after a feedback retrain, whose validation rows have no ratings)."""
    prior, job_prior = ctx.prior, ctx.job_prior
    if prior is None:
        return
    metrics["course_prior_weights"] = prior.weights
    if ctx.accelerator.is_main_process and job_prior is not None and ctx.feedback is None:
        fit_experts(final_model, ctx.tokenizer, ctx.family, ctx.cfg, prior, job_prior, val_rows, metrics)
    elif job_prior is not None:  # validation has no ratings: it cannot judge what they taught
        metrics["model_scale"] = {"course": prior.model_scale, "job": job_prior.model_scale}
        log.info("feedback retrain: the model keeps its full say beside its priors (model scale 1)")


def _save(ctx: TrainContext, final_model, metrics: dict, state: RunState, reranker) -> Path:
    """Write the model folder (main process), then push it to the Hub where asked; returns it."""
    accelerator, cfg = ctx.accelerator, ctx.cfg
    out_dir = Path(cfg.train.output_dir).resolve()
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        out_dir = write_outputs(final_model, ctx.tokenizer, cfg, metrics, state, ctx.prior, ctx.job_prior)
        if reranker is not None:
            reranker.save(out_dir)
        if cfg.hub.push_to_hub:
            hub.push_to_hub(out_dir, cfg.hub.hub_model_id, private=cfg.hub.private)
    accelerator.wait_for_everyone()
    return out_dir


def end_distributed(accelerator: Accelerator) -> None:
    """Leave the process group, every rank together, without the gloo teardown deadlock.

    Callers drop their own references to the prepared (DDP-wrapped) model first. DDP's C++ reducer
    holds the process group and is freed with the GIL held; if it is the group's last owner, the
    group's destructor joins gloo worker threads that may need the GIL to free a finished
    collective's tensors, and the process hangs (or aborts) at exit. Freed here while the group is
    still registered, the reducer is not its last owner, and `destroy_process_group` frees the group
    through torch's GIL-releasing path.
    """
    accelerator.wait_for_everyone()
    accelerator.free_memory()  # accelerate's own references to the wrapped model (its collection
    gc.collect()  # runs before it drops them, and DDP holds reference cycles: collect again after)
    accelerator.end_training()


def run_training(cfg: Config) -> Path:
    """Train, validate each epoch, keep the best epoch by next-course accuracy, save; returns output_dir."""
    start = time.time()
    accelerator = make_accelerator(cfg)
    set_seed(cfg.train.seed)
    train_rows, val_rows = _prepare_data(cfg)
    model, tokenizer, family = _load_model(cfg, train_rows)
    tokens = soft_targets_for(cfg, tokenizer, family)
    prior = course_prior(cfg, tokenizer, family, train_rows, tokens)
    job_prior = job_prior_for(prior, train_rows)
    prior, cross_report = course_cross_for(cfg, prior, train_rows, val_rows)
    examples = encode_rows(train_rows, tokenizer, family, cfg, tokens, prior, job_prior)
    soft = soft_targets_in_use(cfg, tokens, examples)
    multiple = source_multiple(family, accelerator.mixed_precision)
    sampler, dataloader = make_dataloader(examples, tokenizer, cfg, accelerator.device, multiple)
    total = _total_steps(cfg, sampler, accelerator)
    optimizer, scheduler = make_optimizer(model, cfg, total, accelerator.num_processes, accelerator.device)
    model, optimizer, dataloader, scheduler = accelerator.prepare(model, optimizer, dataloader, scheduler)
    if cfg.train.trackers:
        accelerator.init_trackers("careerpath", config=_flat_config(cfg))
    state, best = RunState(), None
    if (ckpt := find_checkpoint(cfg)) is not None:
        state, best = load_checkpoint(accelerator, ckpt)
    ctx = _context(
        accelerator, (model, optimizer, scheduler), cfg, tokenizer, family, tokens, soft, prior, job_prior
    )
    ctx.best = best
    feedback_report, reranker = _attach_feedback(ctx, prior)
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
        end_of_epoch(ctx, state, val_rows)
    final_model = accelerator.unwrap_model(model, keep_torch_compile=False)
    _restore_best(final_model, ctx.best)
    metrics = _final_metrics(accelerator, state, cfg, time.time() - start)
    _prior_metrics(ctx, final_model, val_rows, metrics)
    if cross_report is not None:
        metrics["course_cross"] = cross_report
    if feedback_report is not None:  # counts only: no profile, text or session ever reaches the card
        metrics["feedback"] = feedback_report
        metrics["test_after_feedback"] = feedback_test_metrics(final_model, tokenizer, family, cfg, prior)
        log.info("held-out test after the feedback retrain: %s", metrics["test_after_feedback"])
    out_dir = _save(ctx, final_model, metrics, state, reranker)
    del model, optimizer, scheduler, dataloader, ctx
    end_distributed(accelerator)
    return out_dir
