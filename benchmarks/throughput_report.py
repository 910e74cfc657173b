"""The throughput benchmark's report (benchmarks/train_throughput.py): model FLOPs and device peaks
(for MFU), the runs' medians per (implementation, processes, variant, compile mode), their labels,
the markdown table and the careerpath / peer ratios."""

from __future__ import annotations

import statistics

# dense bf16 tensor-core peaks (no sparsity), TFLOP/s, by a substring of torch.cuda.get_device_name()
PEAK_BF16_TFLOPS = [
    ("H200", 989.0),
    ("H100 PCIe", 756.0),
    ("H100", 989.0),
    ("GH200", 989.0),
    ("A100", 312.0),
    ("L40S", 362.0),
    ("L4", 121.0),
    ("A10G", 70.0),
    ("A10", 125.0),
    ("RTX 4090", 165.0),
]


def peak_tflops(device_name: str) -> float | None:
    for key, value in PEAK_BF16_TFLOPS:
        if key in device_name:
            return value
    return None


def t5_forward_flops(config, src_len: int, tgt_len: int) -> float:
    """Matmul + attention-score FLOPs of one T5 forward pass over one example (2 per multiply-add)."""
    d, dff, vocab = config.d_model, config.d_ff, config.vocab_size
    inner = config.num_heads * config.d_kv
    ff_mats = 3 if config.is_gated_act else 2
    S, T = src_len, tgt_len
    enc_layer = S * (2 * 4 * d * inner + 2 * ff_mats * d * dff) + 2 * 2 * S * S * inner
    dec_layer = (
        T * (2 * 4 * d * inner + 2 * ff_mats * d * dff)  # self-attention projections + FFN
        + 2 * 2 * T * T * inner  # self-attention scores and weighted sum
        + T * 2 * 2 * d * inner  # cross-attention q and o
        + S * 2 * 2 * d * inner  # cross-attention k and v over the encoder output
        + 2 * 2 * T * S * inner  # cross-attention scores and weighted sum
    )
    return config.num_layers * enc_layer + config.num_decoder_layers * dec_layer + 2 * T * d * vocab


def _median(runs: list[dict], key: str):
    values = [r[key] for r in runs if r.get(key) is not None]
    return statistics.median(values) if values else None


METRICS = (
    "examples_per_s",
    "tokens_per_s",
    "padding_share",
    "tflops",
    "mfu",
    "peak_gpu_mem_gb",
    "peak_rss_mb",
)


def summarise(results: dict[tuple[str, int, str, str], list[dict]]) -> list[dict]:
    rows = []
    for (impl, procs, variant, _mode), runs in results.items():
        first = runs[0]
        rows.append(
            {
                "impl": impl,
                "processes": procs,
                "threads": first["threads"],
                "variant": variant,
                "runs": len(runs),
                "device": first["device"],
                "params_m": first["params_m"],
                "trainable_m": first["trainable_m"],
                "compile": first.get("compile", "no"),
                "precision": first.get("precision", "no"),
                **{k: _median(runs, k) for k in METRICS},
            }
        )
    return rows


def label(row: dict) -> str:
    precision = "bf16" if row.get("precision") == "bf16" else "fp32"
    threads = f"{row['threads']} thread{'s' if row['threads'] > 1 else ''}"
    if row["impl"] == "trainer":
        return f"Seq2SeqTrainer ({threads}, {precision})"
    compiled = f", compiled: {row['compile']}" if row.get("compile", "no") != "no" else ""
    if row["processes"] > 1:
        return f"careerpath loop (torchrun {row['processes']} processes x {threads}, {precision}{compiled})"
    return f"careerpath loop (1 process, {threads}, {precision}{compiled})"


def markdown(rows: list[dict], args) -> str:
    gpu = any(r.get("peak_gpu_mem_gb") is not None for r in rows)
    head = "| implementation | variant | params (M) | trainable (M) | examples/s | tokens/s | padding | TFLOP/s | MFU | peak memory |"
    lines = [head, "|" + "---|" * 10]
    for r in rows:
        mem = f"{r['peak_gpu_mem_gb']:.1f} GB GPU" if gpu else f"{r['peak_rss_mb']:.0f} MB RSS"
        mfu = f"{r['mfu']:.1%}" if r.get("mfu") is not None else "n/a"
        lines.append(
            f"| {label(r)} | {r['variant']} | {r['params_m']} | {r['trainable_m']} | {r['examples_per_s']:.1f} | "
            f"{r['tokens_per_s']:,.0f} | {r['padding_share']:.0%} | {r['tflops']:.2f} | {mfu} | {mem} |"
        )
    lines.append("")
    for variant in args.variants:
        peer = next((r for r in rows if r["impl"] == "trainer" and r["variant"] == variant), None)
        for ours in (r for r in rows if r["impl"] == "careerpath" and r["variant"] == variant):
            if peer:
                lines.append(
                    f"- {variant}, {label(ours)} / {label(peer)}: examples/s "
                    f"**{ours['examples_per_s'] / peer['examples_per_s']:.2f}x**, tokens/s "
                    f"{ours['tokens_per_s'] / peer['tokens_per_s']:.2f}x (medians of {ours['runs']} runs each)"
                )
    return "\n".join(lines)


def ratios(rows: list[dict]) -> dict[str, float]:
    """examples/s of each careerpath row over the peer's, per variant: {"full x2": 1.6, ...}."""
    out = {}
    for ours in rows:
        peer = next((r for r in rows if r["impl"] == "trainer" and r["variant"] == ours["variant"]), None)
        if ours["impl"] == "careerpath" and peer:
            compiled = "" if ours.get("compile", "no") == "no" else f" compiled:{ours['compile']}"
            out[f"{ours['variant']} x{ours['processes']}{compiled}"] = (
                ours["examples_per_s"] / peer["examples_per_s"]
            )
    return out
