#!/usr/bin/env bash
# GPU check (issues 10 and 26): one prepared script for one NVIDIA GPU, about 8 minutes.
#
#   bash benchmarks/gpu_check.sh
#
# 1. A T5-base-sized model built from a config (configs/t5_base_gpu.yaml: d_model 768, 12 + 12
#    layers, 12 heads, d_ff 3072) trained in bf16 with all weights and with LoRA, by careerpath's
#    loop (eager, and compiled: torch.compile through accelerate, against the kernel launches the
#    loop is bound by) and by transformers.Seq2SeqTrainer on the same data, batch and steps:
#    tokens/s, peak GPU memory, model FLOPs utilisation (benchmarks/train_throughput.py); then 3
#    more steps of each under torch.profiler: wall ms, operators and kernel launches per step, the
#    GPU's busy share, the top operators (tables in $GPU_CHECK_OUT/profile), to find where a
#    launch-bound loop loses to the other. Eager rows run first, compiled ones last; a run that
#    fails (a compiled one, say) is reported and the others still run; if the step's 300 s run out,
#    the rows that finished are still tabled and in throughput.json (written after every run).
# 2. End to end: the same T5-base-sized config trained by `train.py` on the default dataset
#    (`careerpath data build`, configs/data/default.yaml), bf16 chosen automatically, then
#    `careerpath evaluate`: next course and next job against the baselines and the oracle
#    ceiling, the first figure of what a model of real size reaches.
#
# Environment: PYTHON (default python3), CAREERPATH_GPU_DATA (the throughput dataset; built with
# `python -m careerpath data build --users 800` when missing), GPU_CHECK_OUT (where results go,
# default outputs/gpu_check), GPU_CHECK_STEPS (timed steps per run, default 40, after as many
# warm-up steps, so that compilation is not timed), GPU_CHECK_REPEATS (runs per row, default 1),
# GPU_CHECK_COMPILE (careerpath's compile modes, default "no default"), GPU_CHECK_EPOCHS (epochs
# of step 2, default 2), GPU_CHECK_BATCH (the throughput batch, default the config's 64).
#
# GPU_CHECK_SMOKE=1 runs the same steps on the CPU at toy size (the tiny T5 for step 1; the
# T5-base config shrunk, 3 steps, on CAREERPATH_GPU_DATA for step 2) in about a minute: the tests
# run it, so that the script's plumbing works before a GPU is lent to it.
set -uo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
DATA=${CAREERPATH_GPU_DATA:-outputs/gpu_check_data}
RESULTS=${GPU_CHECK_OUT:-outputs/gpu_check}
STEPS=${GPU_CHECK_STEPS:-40}
REPEATS=${GPU_CHECK_REPEATS:-1}
COMPILE=${GPU_CHECK_COMPILE:-no default}
EPOCHS=${GPU_CHECK_EPOCHS:-2}
SMOKE=${GPU_CHECK_SMOKE:-0}
START=$(date +%s)
export PYTHONUNBUFFERED=1 TOKENIZERS_PARALLELISM=false HF_HUB_OFFLINE=1
# step 1's model and device, step 2's dataset and extra train.py flags
SIZE=(--size base --device cuda --max-train 8000)
BATCH=()
[ -n "${GPU_CHECK_BATCH:-}" ] && BATCH=(--batch-size "$GPU_CHECK_BATCH")
E2E_DATA="$RESULTS/default_data"
E2E_FLAGS=()
if [ "$SMOKE" = 1 ]; then
    echo "gpu_check: GPU_CHECK_SMOKE=1: the steps on the CPU at toy size (a check of the script, no figures)"
    SIZE=(--size tiny --device cpu --max-train 200)
    BATCH=(--batch-size 4)
    STEPS=${GPU_CHECK_STEPS:-2}
    COMPILE=${GPU_CHECK_COMPILE:-no}
    E2E_DATA="$DATA"
    E2E_FLAGS=(--model.d-model 32 --model.num-layers 1 --model.num-heads 2 --model.d-ff 64
        --model.vocab-size 600 --model.min-frequency 1 --train.max-steps 3 --train.batch-size 8
        --train.eval-batch-size 16 --data.max-eval-examples 16)
elif ! command -v nvidia-smi >/dev/null 2>&1; then
    echo "gpu_check: nvidia-smi not found: run this on a machine with an NVIDIA GPU and its driver" >&2
    exit 2
fi
mkdir -p "$RESULTS"
if [ "$SMOKE" != 1 ]; then
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee "$RESULTS/gpu.txt"
    "$PY" - <<'EOF' || { echo "gpu_check: PyTorch cannot use the GPU (see above)" >&2; exit 2; }
import torch, transformers, peft, accelerate
assert torch.cuda.is_available(), "torch.cuda.is_available() is False"
print(f"torch {torch.__version__} (CUDA {torch.version.cuda}), transformers {transformers.__version__}, "
      f"peft {peft.__version__}, accelerate {accelerate.__version__}; {torch.cuda.get_device_name(0)}, "
      f"bf16 {torch.cuda.is_bf16_supported()}")
EOF
fi

if [ ! -f "$DATA/train.jsonl" ]; then
    echo "== building a dataset in $DATA"
    "$PY" -m careerpath data build --users 800 --out "$DATA" --quiet || exit 1
fi

status=0
echo "== 1. T5-base-sized, bf16, full and LoRA: careerpath loop (compile: $COMPILE) vs Seq2SeqTrainer"
# shellcheck disable=SC2086  # COMPILE is a list of modes
timeout 300 "$PY" benchmarks/train_throughput.py --data "$DATA" "${SIZE[@]}" "${BATCH[@]}" \
    --variants full lora --compile $COMPILE --steps "$STEPS" --warmup "$STEPS" --repeats "$REPEATS" \
    --profile "$RESULTS/profile" --keep-going --json "$RESULTS/throughput.json" 2>&1 \
    | tee "$RESULTS/throughput.txt" || status=1

echo "== 2. T5-base-sized end to end on the default dataset: train.py ($EPOCHS epochs), then careerpath evaluate"
timeout 200 bash -c '
    set -e
    [ -f "$1/train.jsonl" ] || "$0" -m careerpath data build --out "$1" --quiet
    "$0" train.py --config configs/t5_base_gpu.yaml --data.data-dir "$1" --train.epochs "$3" \
        --train.output-dir "$2/t5_base" "${@:4}" 2>&1 | tail -5
    "$0" -m careerpath evaluate --model "$2/t5_base" --data "$1" --out "$2/t5_base_report" --no-bias --quiet
' "$PY" "$E2E_DATA" "$RESULTS" "$EPOCHS" "${E2E_FLAGS[@]}" || status=1
"$PY" - "$RESULTS/t5_base/metrics.json" "$RESULTS/t5_base_report/metrics.json" "$SMOKE" <<'EOF' || status=1
import json, sys
sys.path.insert(0, "benchmarks")
import run_all  # the same quality rows as run_all's table: against the oracle, the baselines, the priors
train, m = (json.load(open(p)) for p in sys.argv[1:3])
print("train.py:", {k: train.get(k) for k in ("mixed_precision", "steps", "train_seconds")})
if sys.argv[3] != "1":  # on the GPU, auto precision is bf16
    assert train["mixed_precision"] == "bf16", train["mixed_precision"]
rows = []
run_all.quality(m, rows)
print(run_all.table(rows))
EOF

echo "== gpu_check finished in $(( $(date +%s) - START )) s, status $status"
exit $status
