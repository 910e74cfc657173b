"""Does the model learn what its priors miss? Generator variants the priors do not encode.

    python benchmarks/variants.py [--variants providers move_timing] [--out outputs/bench_variants]
                                  [--threads 1] [--reuse]

On data the priors describe exactly (the default generator), the model can only tie them. Each
variant adds one thing the priors cannot express (configs/data/variant_*.yaml):

* ``providers``: each job family's people prefer one course provider; the course prior weighs a
  course's gap, length and level, never its provider. Measured on the next course.
* ``move_timing``: once ready, people in three families move far less often; the job prior has one
  move probability. Measured on the next job and on move timing (AUC).

For each variant: build the dataset, train the tiny T5 (configs/tiny_t5.yaml, with its learned
job-by-course interaction, careerpath/model/course_cross.py) as a residual on its priors, evaluate
on the test split, and report the priors alone, the model with its priors and the oracle ceiling
(from the text), the share of the prior-to-oracle gap the model closes, which of the model's parts
validation kept (the T5's scales, the interaction), and the paired user-clustered 95% interval of
model minus priors. ``--reuse`` keeps datasets and models already in ``--out``. Results go to
``<out>/variants.json``; about 10 minutes a variant on 2 CPU cores.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from careerpath.core.config import load_config  # noqa: E402
from careerpath.data.build import build_dataset, load_data_config  # noqa: E402
from careerpath.eval.evaluation import evaluate_model  # noqa: E402
from careerpath.training.training import run_training  # noqa: E402

# what each variant changes, as (section, metric) pairs of careerpath evaluate's metrics.json
MEASURES = {
    "providers": [("next_course", "acc@1"), ("next_course", "log_loss")],
    "move_timing": [("next_job", "acc@1"), ("next_job", "log_loss"), ("move_timing", "auc")],
}


def gap_closed(prior: float, model: float, oracle: float) -> float | None:
    """(model - prior) / (oracle - prior): 1 reaches the ceiling, 0 is the prior alone."""
    gap = oracle - prior
    return None if abs(gap) < 1e-9 else (model - prior) / gap


def run_variant(name: str, out: Path, threads: int, reuse: bool, epochs: int = 5) -> dict:
    data, model_dir = out / name / "data", out / name / "model"
    started = time.time()
    if not (reuse and (data / "train.jsonl").is_file()):
        build_dataset(
            load_data_config(ROOT / "configs" / "data" / f"variant_{name}.yaml"), data, progress=False
        )
    if not (reuse and (model_dir / "config.json").is_file()):
        argv = ["--config", str(ROOT / "configs" / "tiny_t5.yaml"), "--data.data-dir", str(data)]
        argv += ["--train.output-dir", str(model_dir), "--train.num-threads", str(threads)]
        argv += ["--train.epochs", str(epochs)]
        run_training(load_config(argv))
    m = evaluate_model(
        model_dir, data, out_dir=out / name / "report", generation_examples=0, bias=False, progress=False
    )
    rows = {}
    for section, metric in MEASURES[name]:
        prior = m["baselines"]["course_prior"][section][metric]
        model = m["model"][section][metric]
        oracle = m["oracle"]["oracle"][section][metric]
        rows[f"{section} {metric}"] = {
            "priors": prior,
            "model": model,
            "oracle": oracle,
            "gap_closed": gap_closed(prior, model, oracle),
        }
    trained = json.loads((model_dir / "metrics.json").read_text())
    scales = trained.get("model_scale")
    cross = (trained.get("course_cross") or {}).get(
        "chosen"
    )  # the job-by-course interaction's penalty, or None
    return {
        "measures": rows,
        "model_vs_priors": m["model_vs_priors"],
        "model_scale": scales,
        "course_cross": cross,
        "n_test": m["n"],
        "epochs": epochs,
        "seconds": round(time.time() - started, 1),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--variants", nargs="+", default=list(MEASURES), choices=list(MEASURES))
    ap.add_argument("--out", default="outputs/bench_variants", help="working folder (default: %(default)s)")
    ap.add_argument(
        "--threads", type=int, default=1, help="torch threads for training (default: %(default)s)"
    )
    ap.add_argument(
        "--epochs",
        type=int,
        default=5,
        help="training epochs (default: %(default)s; the quickstart's 3 leave what the priors miss half learned)",
    )
    ap.add_argument("--reuse", action="store_true", help="keep datasets and models already in --out")
    args = ap.parse_args(argv)
    out = Path(args.out)
    results = {name: run_variant(name, out, args.threads, args.reuse, args.epochs) for name in args.variants}
    print(f"{'variant':12s} {'measure':22s} {'priors':>8s} {'model':>8s} {'oracle':>8s} {'gap closed':>10s}")
    for name, res in results.items():
        for measure, r in res["measures"].items():
            closed = "n/a" if r["gap_closed"] is None else f"{r['gap_closed']:.2f}"
            print(
                f"{name:12s} {measure:22s} {r['priors']:8.4f} {r['model']:8.4f} {r['oracle']:8.4f} {closed:>10s}"
            )
        parts = f"T5 scales {res['model_scale']}, job-by-course interaction "
        print(f"{'':12s} {parts}{'off' if res['course_cross'] is None else 'on'}")
        for section, d in res["model_vs_priors"].items():
            ci = d["acc@1"]
            print(
                f"{'':12s} model - priors, {section} Acc@1: {ci['mean']:+.4f} [{ci['lo']:+.4f}, {ci['hi']:+.4f}]"
            )
    (out / "variants.json").write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
