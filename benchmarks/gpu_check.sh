#!/usr/bin/env bash
# GPU check (issue 10, item 7): one prepared script, under 8 minutes on one NVIDIA GPU.
#
#   bash benchmarks/gpu_check.sh
#
# 1. A T5-base-sized model built from a config (configs/t5_base_gpu.yaml: d_model 768, 12 + 12
#    layers, 12 heads, d_ff 3072) trained in bf16 with all weights and with LoRA, by careerpath's
#    loop and by transformers.Seq2SeqTrainer on the same data, batch and steps: tokens/s, peak GPU
#    memory, model FLOPs utilisation (benchmarks/train_throughput.py).
# 2. End to end: `python train.py` (the CPU default config) on the GPU, bf16 chosen automatically,
#    validated and saved; checks metrics.json says bf16.
#
# Environment: PYTHON (default python3), CAREERPATH_GPU_DATA (a dataset folder; built with
# `python -m careerpath data build --users 800` when missing), GPU_CHECK_OUT (where results go,
# default outputs/gpu_check), GPU_CHECK_STEPS (timed steps per run, default 60),
# GPU_CHECK_REPEATS (runs per implementation and variant, default 2).
set -uo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
DATA=${CAREERPATH_GPU_DATA:-outputs/gpu_check_data}
RESULTS=${GPU_CHECK_OUT:-outputs/gpu_check}
STEPS=${GPU_CHECK_STEPS:-60}
REPEATS=${GPU_CHECK_REPEATS:-2}
START=$(date +%s)
export PYTHONUNBUFFERED=1 TOKENIZERS_PARALLELISM=false HF_HUB_OFFLINE=1

if ! command -v nvidia-smi >/dev/null 2>&1; then
    echo "gpu_check: nvidia-smi not found: run this on a machine with an NVIDIA GPU and its driver" >&2
    exit 2
fi
mkdir -p "$RESULTS"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee "$RESULTS/gpu.txt"
"$PY" - <<'EOF' || { echo "gpu_check: PyTorch cannot use the GPU (see above)" >&2; exit 2; }
import torch, transformers, peft, accelerate
assert torch.cuda.is_available(), "torch.cuda.is_available() is False"
print(f"torch {torch.__version__} (CUDA {torch.version.cuda}), transformers {transformers.__version__}, "
      f"peft {peft.__version__}, accelerate {accelerate.__version__}; {torch.cuda.get_device_name(0)}, "
      f"bf16 {torch.cuda.is_bf16_supported()}")
EOF

if [ ! -f "$DATA/train.jsonl" ]; then
    echo "== building a dataset in $DATA"
    "$PY" -m careerpath data build --users 800 --out "$DATA" --quiet || exit 1
fi

status=0
echo "== 1. T5-base-sized, bf16, full and LoRA: careerpath loop vs Seq2SeqTrainer"
timeout 390 "$PY" benchmarks/train_throughput.py --data "$DATA" --size base --device cuda \
    --variants full lora --steps "$STEPS" --warmup 10 --repeats "$REPEATS" --max-train 8000 \
    --json "$RESULTS/throughput.json" 2>&1 | tee "$RESULTS/throughput.txt" || status=1

echo "== 2. train.py end to end on the GPU (configs/tiny_t5.yaml, 300 steps)"
timeout 150 "$PY" train.py --config configs/tiny_t5.yaml --data.data_dir "$DATA" --train.max_steps 300 \
    --data.max_eval_examples 200 --train.output_dir "$RESULTS/tiny_t5" 2>&1 | tail -5 || status=1
"$PY" - "$RESULTS/tiny_t5/metrics.json" <<'EOF' || status=1
import json, sys
m = json.load(open(sys.argv[1]))
print("train.py on GPU:", {k: m.get(k) for k in ("mixed_precision", "steps", "train_seconds")}, "validation:", {k: v for k, v in m.get("final", {}).items() if k != "examples"})
assert m["mixed_precision"] == "bf16", m["mixed_precision"]
EOF

echo "== gpu_check finished in $(( $(date +%s) - START )) s, status $status"
exit $status
