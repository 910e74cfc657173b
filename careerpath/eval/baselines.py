"""Baselines on the same split and the same full-catalog scoring as the model.

Every scorer here has ``score(rows) -> (course_logp, job_logp)``: log-probabilities over *all*
courses ([n_rows, n_courses]) and over all jobs plus "stay" ([n_rows, n_jobs + 1], "stay" last),
in catalog order. :func:`careerpath.core.metrics.evaluate_scorer` turns any such scorer into the report's numbers, so the
model, the baselines and the oracle ceiling are measured by the same code.

- :class:`PopularityBaseline`: how often each course / job was the next one in training.
- :class:`StayRuleBaseline`: always answers "stay" for jobs (courses by popularity); the floor a
  model must clear on job moves, since most next-job labels are "stay".
- :class:`MarkovBaseline`: first order, P(next | current job, last course) backed off to
  P(next | current job) and to popularity.
- :class:`GRUBaseline`: a GRU over the goal, the job history and the courses taken.
- :class:`OracleScorer`: the generator's own probabilities (the ceiling; not trainable).

Saved with JSON + safetensors (never pickle): ``OUT/<name>/baseline.json`` (+ ``arrays.safetensors``
or ``model.safetensors``); :func:`load_baseline` reads any of them back.

    careerpath baselines train --data outputs/data --out outputs/baselines [--only popularity,markov,gru]

This module is the registry, the training command and the dataset's catalog ids; the models live
in :mod:`careerpath.eval.baselines_models` (popularity, stay rule, Markov), :mod:`careerpath.eval.baselines_gru`
and :mod:`careerpath.eval.baselines_oracle` (oracle, gap rule), re-exported here.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from careerpath.core.cli_common import ArgumentParser, HelpFormatter, add_json_flag, print_json, require_path

# measuring a scorer lives in careerpath.core.metrics and reading a split in careerpath.data.splits (each
# defined once there); re-exported because callers and tests use bl.evaluate_scorer, bl.load_split
from careerpath.core.metrics import evaluate_scorer, gold_indices, move_metrics
from careerpath.data.splits import SPLITS, load_split
from careerpath.eval.baselines_gru import GRUBaseline
from careerpath.eval.baselines_models import (
    MarkovBaseline,
    PopularityBaseline,
    StayRuleBaseline,
    _write_json,
)
from careerpath.eval.baselines_oracle import GapRuleScorer, OracleScorer, _data_catalog

__all__ = [
    "BASELINES",
    "SPLITS",
    "GRUBaseline",
    "GapRuleScorer",
    "MarkovBaseline",
    "OracleScorer",
    "PopularityBaseline",
    "StayRuleBaseline",
    "build_parser",
    "evaluate_scorer",
    "format_results",
    "gold_indices",
    "load_baseline",
    "load_split",
    "main",
    "move_metrics",
    "read_catalog_ids",
    "train_baselines",
]


# -- rows, catalog ids and gold indices --------------------------------------------------------
def read_catalog_ids(data_dir: str | Path) -> tuple[list[str], list[str]]:
    """Course ids and job ids in catalog order, from ``DATA/catalog/courses.csv`` and ``jobs.csv``."""
    out = []
    for name in ("courses", "jobs"):
        path = Path(data_dir) / "catalog" / f"{name}.csv"
        if not path.is_file():
            raise FileNotFoundError(f"{path}: missing; pass the folder written by `careerpath data build`")
        with open(path, encoding="utf-8", newline="") as f:
            reader = csv.DictReader(f)
            if "id" not in (reader.fieldnames or []):
                raise ValueError(f"{path}: no 'id' column in the header {reader.fieldnames}")
            out.append([r["id"] for r in reader])
    return out[0], out[1]


# -- loading and the command -------------------------------------------------------------------
BASELINES = {
    "popularity": PopularityBaseline,
    "stay_rule": StayRuleBaseline,
    "markov": MarkovBaseline,
    "gru": GRUBaseline,
}


def load_baseline(path: str | Path):
    """Load any saved baseline from its folder (the kind is read from ``baseline.json``)."""
    meta_path = Path(path) / "baseline.json"
    if not meta_path.is_file():
        raise FileNotFoundError(f"{meta_path}: missing; train with `careerpath baselines train`")
    kind = json.loads(meta_path.read_text(encoding="utf-8")).get("kind")
    if kind not in BASELINES:
        raise ValueError(f"{meta_path}: unknown kind {kind!r}; expected one of {', '.join(BASELINES)}")
    return BASELINES[kind].load(path)


def train_baselines(
    data_dir: str | Path,
    out_dir: str | Path,
    only: Sequence[str] = tuple(BASELINES),
    seed: int = 0,
    log=print,
) -> dict[str, dict]:
    """Fit, save (``OUT/<name>/``) and score on validation each baseline in ``only``; returns the metrics."""
    unknown = [n for n in only if n not in BASELINES]
    if unknown:
        raise ValueError(f"unknown baseline(s) {unknown}; choose from {', '.join(BASELINES)}")
    course_ids, job_ids = read_catalog_ids(data_dir)
    train, val = load_split(data_dir, "train"), load_split(data_dir, "validation")
    results = {}
    for name in only:
        started = time.time()
        if name == "gru":
            model = GRUBaseline(seed=seed).fit(train, course_ids, job_ids, val_rows=val, log=log)
        else:
            model = BASELINES[name]().fit(train, course_ids, job_ids)
            if name == "markov" and val:
                model.tune_alpha(val)
                log(f"markov: alpha = {model.alpha} (validation log-loss)")
        model.save(Path(out_dir) / name)
        res = evaluate_scorer(model, val, course_ids, job_ids)
        res["seconds"] = round(time.time() - started, 2)
        _write_json(Path(out_dir) / name / "validation_metrics.json", res)
        results[name] = res
    return results


def format_results(results: dict[str, dict]) -> str:
    """A small fixed-width table: course / job / job-move Acc@1 and MRR per method."""
    head = f"{'method':<22}{'course acc@1':>13}{'course mrr':>11}{'job acc@1':>10}{'job mrr':>9}{'move acc@1':>11}{'move mrr':>9}"
    lines = [head]
    for name, r in results.items():
        c, j, m = r["next_course"], r["next_job"], r["next_job_moves"]
        lines.append(
            f"{name:<22}{c['acc@1']:>13.3f}{c['mrr']:>11.3f}{j['acc@1']:>10.3f}{j['mrr']:>9.3f}"
            f"{m['acc@1']:>11.3f}{m['mrr']:>9.3f}"
        )
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    parser = ArgumentParser(
        prog="careerpath baselines", description="fit and save the baselines", formatter_class=HelpFormatter
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="<command>")
    train = sub.add_parser(
        "train",
        help="fit each baseline on train, save it, print validation metrics",
        description="fit each baseline on train, save it, print validation metrics",
        formatter_class=HelpFormatter,
    )
    train.add_argument("--data", required=True, help="dataset folder from `careerpath data build`")
    train.add_argument("--out", required=True, help="output folder; each baseline goes to OUT/<name>/")
    train.add_argument(
        "--only", default=",".join(BASELINES), help=f"comma-separated subset of {','.join(BASELINES)}"
    )
    train.add_argument("--seed", type=int, default=0, help="seed for the GRU")
    add_json_flag(train)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """``careerpath baselines train --data DIR --out DIR [--only popularity,markov,gru] [--seed N] [--json]``."""
    args = build_parser().parse_args(argv)
    only = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = sorted(set(only) - set(BASELINES))
    if unknown:
        raise ValueError(
            f"--only: unknown baseline(s) {', '.join(unknown)}; choose from {', '.join(BASELINES)}"
        )
    require_path(args.data, "--data", "dir", hint="build one with `careerpath data build`")
    for split in ("train", "validation"):
        require_path(
            Path(args.data) / f"{split}.jsonl",
            "--data",
            "file",
            hint="a dataset from `careerpath data build`",
        )
    log = (lambda line: print(line, file=sys.stderr)) if args.json else print  # stdout: the JSON alone
    results = train_baselines(args.data, args.out, only, seed=args.seed, log=log)
    course_ids, job_ids = read_catalog_ids(args.data)
    val = load_split(args.data, "validation")
    if val and val[0].get("probs_visible"):
        results["oracle (ceiling)"] = evaluate_scorer(
            OracleScorer(course_ids, job_ids, catalog=_data_catalog(args.data)), val, course_ids, job_ids
        )
    if args.json:
        print_json({"out": str(args.out), "validation_rows": len(val), "validation": results})
        return 0
    print(
        f"validation ({len(val)} rows, full catalog: {len(course_ids)} courses, {len(job_ids)} jobs + stay)"
    )
    print(format_results(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
