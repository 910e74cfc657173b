"""Training throughput: careerpath's training loop against ``transformers.Seq2SeqTrainer``.

Both train the same T5 (same config, same random initial weights), on the same tokenised
examples, with the same batch size, optimizer (AdamW), learning rate, clipping, precision and
number of steps, on the same machine. Each (implementation, variant, repeat) runs in its own
process, so peak memory is per run and no state leaks between them; the repeats alternate
careerpath / peer so drift on a noisy machine hits both. Printed: examples/s, tokens/s (non-pad
source + target tokens), padding share, peak memory (RSS on CPU, allocated GPU memory on CUDA),
model FLOPs utilisation where the device's peak is known, and the careerpath / peer ratio of medians.

    python benchmarks/train_throughput.py --data outputs/data                       # tiny T5, CPU (issue 10.1)
    python benchmarks/train_throughput.py --data DIR --size base --device cuda \\
        --variants full lora --steps 60                                             # gpu_check.sh

MFU counts model FLOPs of the non-pad tokens (matmuls and attention scores of the T5 forward,
per example from its own lengths): training is 3x the forward with all weights trained, 2x with
LoRA (frozen weights need gradients for their inputs only; the adapters' FLOPs are negligible).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from step_profile import StepProfiler
from step_profile import markdown as profile_markdown
from throughput_report import label, markdown, peak_tflops, ratios, t5_forward_flops  # noqa: F401 (ratios: for the tests)
from throughput_runs import free_port, measure, stop_on_signal, write_json

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SIZES = {"tiny": ROOT / "configs" / "tiny_t5.yaml", "base": ROOT / "configs" / "t5_base_gpu.yaml"}


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# ---------------------------------------------------------------- one measured run (child process)


def _setup(args):
    import torch

    from careerpath.core.config import load_config
    from careerpath.model import modeling
    from careerpath.training import training

    world = _world()  # torchrun: the global batch is split over processes
    if args.batch_size % world:
        raise SystemExit(f"--batch-size {args.batch_size} does not split over {world} processes")
    overrides = ["--config", str(SIZES[args.size]), "--data.data-dir", args.data]
    overrides += [
        "--train.batch-size",
        str(args.batch_size // world),
        "--train.max-steps",
        str(args.warmup + args.steps),
    ]
    overrides += [
        "--train.mixed-precision",
        args.precision,
        "--lora.enabled",
        str(args.variant == "lora").lower(),
    ]
    overrides += ["--train.output-dir", tempfile.mkdtemp(prefix="cp_tp_")]
    if args.threads:
        overrides += ["--train.num-threads", str(args.threads)]
    if args.no_lean:
        overrides += ["--train.lean-forward", "false"]
    if args.impl == "careerpath" and args.compile[0] != "no":
        overrides += ["--train.compile", args.compile[0]]
    cfg = load_config(overrides)
    rows = training.load_rows(args.data, "train", args.max_train)
    texts = [r["input_text"] for r in rows] + [r["target_text"] for r in rows]
    torch.manual_seed(cfg.train.seed)
    model, tokenizer, family = modeling.build(cfg, texts)  # same seed: same initial weights for both
    examples = training.encode_rows(rows, tokenizer, family, cfg)
    return cfg, model, tokenizer, examples


def _sync(device) -> None:
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize()


def _stats(tokenizer, examples, batches: list[list[int]], multiple: int = 1, label_multiple: int = 1) -> dict:
    """Non-pad tokens, padded tokens (source and target widths rounded up to ``multiple`` and
    ``label_multiple``, as the collators do) and the (source, target) lengths of the given batches
    (lists of example indices)."""
    real = padded = 0
    pairs = []
    for b in batches:
        src = [len(examples[i]["input_ids"]) for i in b]
        tgt = [len(examples[i]["labels"]) for i in b]
        real += sum(src) + sum(tgt)
        padded += len(b) * (
            -(-max(src) // multiple) * multiple + -(-max(tgt) // label_multiple) * label_multiple
        )
        pairs += list(zip(src, tgt, strict=True))
    return {"real_tokens": real, "padded_tokens": padded, "pairs": pairs}


def run_careerpath(args) -> dict:
    """careerpath.training.training's own epoch loop (the one train.py runs), warm-up steps first, then timed."""
    import torch
    from tqdm.auto import tqdm

    from careerpath.training import training, training_data, training_loop

    cfg, model, tokenizer, examples = _setup(args)
    accelerator = training.make_accelerator(cfg)
    multiple = args.source_multiple = training_data.source_multiple("seq2seq", accelerator.mixed_precision)
    sampler, loader = training_data.make_dataloader(examples, tokenizer, cfg, accelerator.device, multiple)
    # the batches in order (each pass restarts epoch 0); with N processes, process r takes batches
    # r, r + N, ... (accelerate's batch-sampler sharding), so one optimizer step covers N of them
    order = list(iter(sampler))
    world = accelerator.num_processes
    if len(order) < max(args.warmup, args.steps) * world:
        raise SystemExit(
            f"--max-train gives {len(order)} batches; need {max(args.warmup, args.steps) * world}"
        )
    total = args.warmup + args.steps
    optimizer, scheduler = training.make_optimizer(model, cfg, total, world, accelerator.device)
    model, optimizer, loader, scheduler = accelerator.prepare(model, optimizer, loader, scheduler)
    if accelerator.device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    ctx = training_loop.TrainContext(accelerator, model, optimizer, scheduler, cfg)
    ctx.lean = training_loop.lean_forward(model, cfg, accelerator)  # as train.py: on unless it cannot mirror
    state, bar = training_loop.RunState(), tqdm(disable=True)
    training_loop.train_epoch(ctx, state, loader, args.warmup, bar)  # warm-up: the first batches
    _sync(accelerator.device)
    t0 = time.perf_counter()
    training_loop.train_epoch(ctx, state, loader, total, bar)  # a new pass: batches 0 .. steps-1 again
    _sync(accelerator.device)
    seconds = time.perf_counter() - t0
    loss = state.losses[-1][1]
    res = _result(
        args, cfg, model, tokenizer, examples, order[: args.steps * world], seconds, accelerator.device, loss
    )
    if args.profile:  # more steps after the timed ones, under the profiler
        with StepProfiler(accelerator.device, args.profile_steps) as sp:
            training_loop.train_epoch(ctx, state, loader, total + args.profile_steps, bar)
        _profiled(args, res, sp, accelerator.is_main_process)
    res["processes"] = world
    res["precision"] = accelerator.mixed_precision
    res["lean_forward"] = ctx.lean is not None
    res["compile"] = cfg.train.compile
    res["batch_size"] = cfg.train.batch_size * world
    if world > 1:  # memory of all processes together; timing from the slowest
        together = accelerator.gather(torch.tensor([res["peak_rss_mb"], seconds], dtype=torch.float64))
        res["peak_rss_mb"] = float(together[0::2].sum())
    del model, optimizer, loader, scheduler, ctx  # then leave the group as train.py does (no gloo
    training.end_distributed(accelerator)  # teardown deadlock or abort, seen in CI)
    return res if accelerator.is_main_process else None


def run_trainer(args) -> dict:
    import torch
    from transformers import DataCollatorForSeq2Seq, Seq2SeqTrainer, Seq2SeqTrainingArguments, TrainerCallback

    from careerpath.training import training

    cfg, model, tokenizer, examples = _setup(args)
    # the peer gets the threads careerpath's run gets (not the environment's OMP_NUM_THREADS alone):
    # the same cores, whatever the shell that launched the benchmark
    torch.set_num_threads(args.threads or training.default_threads())
    training.tune_host_allocator()  # and its allocator settings (careerpath's make_accelerator does both)
    total = args.warmup + args.steps
    seen: list[list[int]] = []

    class Indexed(torch.utils.data.Dataset):  # records which examples each batch holds
        def __len__(self):
            return len(examples)

        def __getitem__(self, i):
            return {**examples[i], "_idx": i}

    # and careerpath's rounding of padded widths, through the collator's own knob (which rounds the
    # labels too, as transformers' example scripts do for mixed precision)
    precision = training.resolve_mixed_precision(cfg, args.device == "cpu")
    multiple = args.source_multiple = args.label_multiple = training.source_multiple("seq2seq", precision)
    base_collate = DataCollatorForSeq2Seq(
        tokenizer, model=None, label_pad_token_id=-100, pad_to_multiple_of=multiple if multiple > 1 else None
    )

    def collate(features):
        seen.append([f.pop("_idx") for f in features])
        return base_collate(features)

    clock: dict[str, float] = {}
    timed_end = args.warmup + args.steps
    profiling = bool(args.profile)
    total += args.profile_steps if profiling else 0  # more steps after the timed ones, under the profiler
    sp = StepProfiler(args.device, args.profile_steps) if profiling else None

    class Clock(TrainerCallback):
        def on_step_begin(self, targs, state, control, **kw):
            if state.global_step == args.warmup:
                _sync(trainer.args.device)
                clock["t0"] = time.perf_counter()
            if profiling and state.global_step == timed_end:
                sp.__enter__()

        def on_step_end(self, targs, state, control, **kw):
            if state.global_step == timed_end:
                _sync(trainer.args.device)
                clock["t1"] = time.perf_counter()
            if profiling and state.global_step == total:
                sp.__exit__(None, None, None)

    use_cpu = args.device == "cpu"
    bf16 = precision == "bf16"  # the precision careerpath's run gets
    targs = Seq2SeqTrainingArguments(
        output_dir=cfg.train.output_dir,
        per_device_train_batch_size=cfg.train.batch_size,
        max_steps=total,
        learning_rate=cfg.train.lr,
        lr_scheduler_type="linear",
        warmup_steps=int(cfg.train.warmup_ratio * total),
        max_grad_norm=cfg.train.max_grad_norm,
        bf16=bf16,
        use_cpu=use_cpu,
        seed=cfg.train.seed,
        save_strategy="no",
        eval_strategy="no",
        logging_strategy="no",
        report_to=[],
        disable_tqdm=True,
        remove_unused_columns=False,
        dataloader_num_workers=0,
    )
    trainer = Seq2SeqTrainer(
        model=model, args=targs, train_dataset=Indexed(), data_collator=collate, callbacks=[Clock()]
    )
    if trainer.args.device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    out = trainer.train()
    seconds = clock["t1"] - clock["t0"]
    res = _result(
        args,
        cfg,
        trainer.model,
        tokenizer,
        examples,
        seen[args.warmup : timed_end],
        seconds,
        trainer.args.device,
        out.training_loss,
    )
    res["precision"] = "bf16" if bf16 else "no"
    if profiling:
        _profiled(args, res, sp, True)
    return res


def _profiled(args, res: dict, sp: StepProfiler, main: bool) -> None:
    """The profile's summary into the run's result, its tables into ``--profile``'s folder."""
    res["profile"] = sp.summary()
    if main:
        name = f"{args.impl}_x{_world()}_{args.variant}"
        name += "" if args.compile[0] == "no" or args.impl == "trainer" else f"_compiled-{args.compile[0]}"
        sp.write(Path(args.profile) / f"{name}.txt", name)


def _world() -> int:
    return int(os.environ.get("WORLD_SIZE", "1"))


def _result(args, cfg, model, tokenizer, examples, batches, seconds, device, loss) -> dict:
    import torch

    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    base = getattr(base, "module", base)
    st = _stats(
        tokenizer, examples, batches, getattr(args, "source_multiple", 1), getattr(args, "label_multiple", 1)
    )
    factor = 2 if args.variant == "lora" else 3
    flops = factor * sum(t5_forward_flops(base.config, s, t) for s, t in st["pairs"])
    n_examples = sum(len(b) for b in batches)
    res = {
        "impl": args.impl,
        "variant": args.variant,
        "device": torch.cuda.get_device_name(0) if device.type == "cuda" else "cpu",
        "threads": torch.get_num_threads(),
        "processes": 1,
        "params_m": round(sum(p.numel() for p in base.parameters()) / 1e6, 1),
        "trainable_m": round(sum(p.numel() for p in model.parameters() if p.requires_grad) / 1e6, 2),
        "steps": len(batches),
        "batch_size": cfg.train.batch_size,
        "seconds": seconds,
        "examples_per_s": n_examples / seconds,
        "tokens_per_s": st["real_tokens"] / seconds,
        "padding_share": 1 - st["real_tokens"] / st["padded_tokens"],
        "tflops": flops / seconds / 1e12,
        "final_loss": round(float(loss), 4),
    }
    if device.type == "cuda":
        res["peak_gpu_mem_gb"] = torch.cuda.max_memory_allocated() / 2**30
        peak = args.peak_tflops or peak_tflops(res["device"])
        res["mfu"] = res["tflops"] / peak if peak else None
    res["peak_rss_mb"] = peak_rss_mb()
    return res


# ---------------------------------------------------------------- orchestration (parent process)


def _child(
    args, impl: str, procs: int, variant: str, compile_mode: str = "no", profile: bool = False
) -> dict:
    cmd = [sys.executable]
    if procs > 1:  # torchrun: accelerate then runs MULTI_CPU (gloo) or DDP on GPUs
        cmd += [
            "-m",
            "torch.distributed.run",
            "--nproc_per_node",
            str(procs),
            "--master_port",
            str(free_port()),
        ]
    cmd += [__file__, "--_child", impl, "--_variant", variant]
    for key in (
        "data",
        "size",
        "device",
        "precision",
        "batch_size",
        "steps",
        "warmup",
        "max_train",
        "peak_tflops",
    ):
        value = getattr(args, key)
        if value is not None:
            cmd += [f"--{key.replace('_', '-')}", str(value)]
    if args.threads:
        cmd += ["--threads", str(args.threads)]
    if args.no_lean:
        cmd += ["--no-lean"]
    if impl == "careerpath" and compile_mode != "no":
        cmd += ["--compile", compile_mode]
    if profile:
        cmd += ["--profile", str(Path(args.profile).resolve()), "--profile-steps", str(args.profile_steps)]
    env = dict(os.environ)
    if args.device == "cpu":
        env["CUDA_VISIBLE_DEVICES"] = ""
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
    if proc.returncode != 0 or not lines:
        tail = "\n".join((proc.stderr or proc.stdout).splitlines()[-80:])  # the ranks' own errors too
        raise RuntimeError(f"{impl} x{procs}/{variant} failed (exit {proc.returncode}):\n{tail}")
    return json.loads(lines[-1][len("RESULT ") :])


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        description=__doc__.splitlines()[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--data", default="outputs/data", help="a dataset folder from `careerpath data build`")
    p.add_argument(
        "--size",
        choices=sorted(SIZES),
        default="tiny",
        help="tiny: configs/tiny_t5.yaml; base: configs/t5_base_gpu.yaml",
    )
    p.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    p.add_argument(
        "--precision",
        choices=["auto", "no", "bf16"],
        default="auto",
        help="both implementations; auto: careerpath's choice (bf16 on a bf16 GPU or a CPU with "
        "AVX512-BF16/AMX, else float32)",
    )
    p.add_argument("--variants", nargs="+", choices=["full", "lora"], default=["full"])
    p.add_argument("--batch-size", type=int, default=None, help="default: the config's")
    p.add_argument("--steps", type=int, default=60, help="timed optimizer steps per run")
    p.add_argument("--warmup", type=int, default=10, help="untimed steps first")
    p.add_argument("--repeats", type=int, default=3, help="runs per implementation and variant (medians)")
    p.add_argument(
        "--max-train", type=int, default=6000, help="training examples loaded (tokenizer + batches)"
    )
    p.add_argument("--no-peer", action="store_true", help="careerpath only")
    p.add_argument(
        "--peak-tflops", type=float, default=None, help="the device's dense bf16 peak, if not in the table"
    )
    p.add_argument(
        "--procs",
        type=int,
        nargs="+",
        default=[1],
        help="careerpath rows: processes (torchrun) sharing the same global batch, e.g. 1 2",
    )
    p.add_argument(
        "--threads", type=int, default=0, help="careerpath's torch threads (0: its default policy)"
    )
    p.add_argument(
        "--no-lean",
        action="store_true",
        help="careerpath through transformers' forward (--train.lean-forward false), to measure the lean one",
    )
    p.add_argument(
        "--compile",
        nargs="+",
        choices=["no", "default", "reduce-overhead", "max-autotune"],
        default=["no"],
        help="careerpath rows, one set per mode: --train.compile (torch.compile through accelerate; the peer "
        "stays as it is), e.g. no default. Give --warmup as large as --steps so that compilation and "
        "recompiles for new shapes are not timed",
    )
    p.add_argument(
        "--profile",
        default="",
        metavar="DIR",
        help="after the timed steps of each row's first run, --profile-steps more under torch.profiler: "
        "a summary per row (wall ms, operators and GPU kernels per step, GPU busy share) printed, and "
        "the profiler's tables written to DIR",
    )
    p.add_argument("--profile-steps", type=int, default=3, help="steps profiled (with --profile)")
    p.add_argument(
        "--keep-going",
        action="store_true",
        help="a run that fails is reported and the others still run and are tabled (exit status 1)",
    )
    p.add_argument("--json", default="", help="also write the per-run results here")
    p.add_argument("--_child", choices=["careerpath", "trainer"], help=argparse.SUPPRESS)
    p.add_argument("--_variant", default="full", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.batch_size is None:
        import yaml

        args.batch_size = yaml.safe_load(SIZES[args.size].read_text())["train"]["batch_size"]
    if args._child:
        args.impl, args.variant = args._child, args._variant
        if args.device == "cuda":
            import torch

            if not torch.cuda.is_available():
                raise SystemExit("--device cuda: no CUDA device visible")
        fn = run_careerpath if args.impl == "careerpath" else run_trainer
        result = fn(args)
        if result is not None:  # torchrun: the main process reports for all
            print("RESULT " + json.dumps(result), flush=True)
        return 0
    if not (Path(args.data) / "train.jsonl").exists():
        raise SystemExit(
            f"{args.data}/train.jsonl: missing; build one with `careerpath data build --out {args.data}`"
        )
    previous = signal.signal(signal.SIGTERM, stop_on_signal)  # `timeout`: report what finished, stop the run
    try:
        rows, results = measure(
            args, _child, (lambda res: write_json(args.json, res, False)) if args.json else None
        )
    finally:
        signal.signal(signal.SIGTERM, previous)
    if not rows:
        print(f"no run finished: {', '.join(args.failed) or 'stopped'}", file=sys.stderr)
        return 1
    print()
    print(
        f"{args.size} T5, batch {args.batch_size}, {args.steps} timed steps after {args.warmup} warm-up, {rows[0]['device']}"
    )
    print(markdown(rows, args))
    profiled = [
        {"label": label(r), "variant": r["variant"], "profile": runs[0]["profile"]}
        for r, runs in zip(rows, results.values(), strict=True)
        if runs[0].get("profile")
    ]
    if profiled:
        print(
            f"\nProfiled: {args.profile_steps} steps after the timed ones, first run of each row; tables in {args.profile}"
        )
        print(profile_markdown(profiled))
    if args.json:
        write_json(args.json, results, complete=not args.stopped and not args.failed)
    if args.failed:
        print(f"\nfailed (see above): {', '.join(args.failed)}", file=sys.stderr)
    if args.stopped:
        print("\nstopped by SIGTERM: the table holds the runs that finished", file=sys.stderr)
    return 1 if args.failed or args.stopped else 0


if __name__ == "__main__":
    raise SystemExit(main())
