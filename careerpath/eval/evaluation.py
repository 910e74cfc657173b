"""``careerpath evaluate``: the model against the baselines and the oracle ceiling, on one split.

Everything is ranked over the *full* catalog by the same code (:func:`careerpath.core.metrics.evaluate_scorer`):

- the model through :class:`careerpath.model.scoring.ModelScorer`, a thin adapter over :class:`careerpath.model.scoring.CatalogScorer`,
  which is the ranking path the recommendation engine uses, so what is measured is what is served;
- the baselines (popularity, stay rule, Markov, GRU), loaded from ``--baselines`` or trained into
  ``OUT/baselines`` on the same dataset when missing;
- the oracle ceiling twice: Bayes-optimal from the text (``probs_visible``, the one to approach) and
  with the hidden traits known (``probs``), both re-scored here and also copied from ``stats.json``.

On top: generation quality (BLEU, exact match, skills-gained P/R/F1, validity of generated names),
model / ceiling ratios, and the bias report (group gaps by starting job family and level, goal-reach
rate of :meth:`careerpath.serving.recommend.Recommender.pathway`, coverage and Gini of the top-10 lists,
counterfactual stability). Outputs in ``OUT``: ``metrics.json``, ``report.md`` (rendered from
``metrics.json`` by :func:`render_report`), ``hit_at_k.png`` and ``by_family.png``.

    careerpath evaluate --model outputs/tiny_t5 --data outputs/data --out outputs/eval

The pieces live beside this module: ``evaluation_methods.py`` (the methods and how each is scored),
``evaluation_bias.py`` (the bias report) and ``evaluation_report.py`` (``report.md`` and the plots);
here :func:`evaluate_model` runs them in named steps, and the command's parser and ``main``.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from careerpath.core import metrics as M
from careerpath.core.catalog import Catalog, load_catalog
from careerpath.core.cli_common import (
    ArgumentParser,
    HelpFormatter,
    add_json_flag,
    print_json,
    require_model,
    require_path,
    show_progress,
)
from careerpath.core.context import GapRetriever, load_context_file, progression_for
from careerpath.eval import baselines as bl
from careerpath.eval.evaluation_bias import behaviour_report, group_report, recommender_for
from careerpath.eval.evaluation_methods import (
    LABELS,
    RANK_SECTIONS,
    EvalSplit,
    PriorScorer,
    Recorded,
    generation_metrics,
    generation_settings,
    load_or_train_baselines,
    paired_comparison,
    score_oracles,
)
from careerpath.eval.evaluation_report import fmt, main_table, render_report, write_plots
from careerpath.model import scoring
from careerpath.model.bundle import ModelBundle
from careerpath.model.course_cross import prior_alone
from careerpath.model.generation import generate
from careerpath.model.hub import resolve_model_dir
from careerpath.model.scoring import ModelScorer

# the public API; LABELS, PriorScorer, main_table and render_report are re-exported for callers and tests
__all__ = [
    "LABELS",
    "PriorScorer",
    "build_parser",
    "check_same_context",
    "evaluate_model",
    "main",
    "main_table",
    "render_report",
]


# -- helpers ---------------------------------------------------------------------------------------
def _clean(obj):
    """JSON-safe copy: numpy scalars to Python, NaN/inf to None."""
    if isinstance(obj, dict):
        return {str(k): _clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_clean(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return _clean(obj.tolist())
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        x = float(obj)
        return x if math.isfinite(x) else None
    return obj


def _ratio(a, b):
    if a is None or b is None or not b or not math.isfinite(a) or not math.isfinite(b):
        return None
    return a / b


def _ratio_to_ceiling(model_result: dict, ceiling: dict | None) -> dict:
    """Model Acc@1 over the oracle's (from the text), per ranking section; None without an oracle."""
    return {
        s: _ratio(model_result[s]["acc@1"], ceiling[s]["acc@1"] if ceiling else None) for s in RANK_SECTIONS
    }


def _check_model_dir(model_dir: Path) -> None:
    if not model_dir.is_dir():
        raise FileNotFoundError(
            f"{model_dir}: no such model folder; train one with `careerpath quickstart` (or `python train.py`)"
        )
    if not ((model_dir / "config.json").is_file() or (model_dir / "adapter_config.json").is_file()):
        raise FileNotFoundError(
            f"{model_dir}: not a trained model (no config.json or adapter_config.json); "
            "pass the output folder of `careerpath quickstart` or `python train.py`"
        )


def check_same_context(model_dir: Path, data_dir: Path) -> None:
    """Refuse to score rows whose inputs were made differently from the model's training inputs
    (with and without catalog context, or with other context settings): the figures would be
    those of a model reading inputs it never saw."""

    def describe(info):
        return "no catalog context" if info is None or not info["context"].enabled else "catalog context"

    m, d = load_context_file(model_dir), load_context_file(data_dir)
    m_on = m is not None and m["context"].enabled
    d_on = d is not None and d["context"].enabled
    if m_on != d_on or (m_on and (m["context"] != d["context"] or m["n_next_jobs"] != d["n_next_jobs"])):
        raise ValueError(
            f"{model_dir} was trained on inputs with {describe(m)}"
            + (f" ({m['context']})" if m_on else "")
            + f", but {data_dir} has {describe(d)}"
            + (f" ({d['context']})" if d_on else "")
            + "; evaluate on the dataset the model was trained on, or rebuild one with the same "
            "`context:` settings (configs/data/*.yaml)"
        )


@dataclass
class LoadedModel:
    """The model with its priors, and its catalog scorer (the recommendation engine's ranking path)."""

    model: object
    tokenizer: object
    kind: str
    prior: object
    job_prior: object
    scorer: scoring.CatalogScorer
    bundle: ModelBundle


def _load_split(data_dir: Path, split: str, max_examples: int | None, seed: int) -> EvalSplit:
    rows = bl.load_split(data_dir, split)
    if not rows:
        raise ValueError(f"{data_dir / (split + '.jsonl')}: no rows to evaluate")
    n_total = len(rows)
    if max_examples and max_examples < len(rows):
        keep = np.sort(np.random.default_rng(seed).choice(len(rows), size=int(max_examples), replace=False))
        rows = [rows[i] for i in keep]
    catalog = load_catalog(data_dir / "catalog")
    course_ids, job_ids = bl.read_catalog_ids(data_dir)
    if course_ids != list(catalog.courses) or job_ids != list(catalog.jobs):
        raise ValueError(
            f"{data_dir}/catalog: course/job order differs between the CSVs and the loaded catalog"
        )
    return EvalSplit(split, rows, n_total, catalog, course_ids, job_ids)


def _load_model(model_dir: Path, catalog: Catalog) -> LoadedModel:
    """The model folder (:class:`~careerpath.model.bundle.ModelBundle`) over the evaluated catalog."""
    bundle = ModelBundle.load(model_dir, catalog=catalog)
    return LoadedModel(
        bundle.model, bundle.tokenizer, bundle.kind, bundle.prior, bundle.job_prior, bundle.scorer(), bundle
    )


def _generation(lm: LoadedModel, sp: EvalSplit, model_dir: Path, n_gen: int, batch_size: int) -> dict:
    """Generation metrics of the model on the first ``n_gen`` rows (skipped at 0), with 5 examples."""
    if n_gen <= 0:
        return {"n": 0, "skipped": True}
    g = generation_settings(model_dir)
    gen_rows = sp.rows[:n_gen]
    preds = generate(
        lm.model,
        lm.tokenizer,
        lm.kind,
        [r["input_text"] for r in gen_rows],
        batch_size=max(batch_size, 32),
        max_new_tokens=g["max_new_tokens"],
        num_beams=g["num_beams"],
        max_source_length=g["max_source_length"],
        prior=lm.prior,
        job_prior=lm.job_prior,
    )
    out = generation_metrics(preds, [r["target_text"] for r in gen_rows], sp.catalog)
    out["examples"] = [
        {"input": r["input_text"], "target": r["target_text"], "generated": p}
        for r, p in zip(gen_rows[:5], preds[:5], strict=True)
    ]
    return out


def _comparison_scorers(
    lm: LoadedModel, sp: EvalSplit, data_dir: Path, scorers: dict, batch_size: int
) -> dict:
    """The trained baselines plus what needs no training: the catalog's skill-gap rule (the retriever
    behind the model's context fields) and, for a model with priors, the priors alone and the model
    without them."""
    info = load_context_file(data_dir)
    retriever = GapRetriever(sp.catalog, progression_for(sp.catalog, info), info["context"] if info else None)
    scorers = {**scorers, "gap_rule": bl.GapRuleScorer(retriever, sp.job_ids)}
    if lm.prior is not None:  # the priors without the model, and the model without the priors
        scorers["course_prior"] = PriorScorer(prior_alone(lm.prior), scorers["gap_rule"], lm.job_prior)
        alone = scoring.CatalogScorer(lm.model, lm.tokenizer, sp.catalog, kind=lm.kind)
        scorers["model_no_prior"] = ModelScorer(alone, batch_size=batch_size, progress=False)
    return scorers


def _score_all(scorers: dict, sp: EvalSplit, scores: dict) -> dict:
    """``{name: metrics}`` of every scorer on the split's rows; each one's scores go into ``scores``."""
    results = {}
    for name, s in scorers.items():
        rec = Recorded(s)
        results[name] = M.evaluate_scorer(rec, sp.rows, sp.course_ids, sp.job_ids)
        scores[name] = rec.last
    return results


def _bias(
    lm: LoadedModel,
    sp: EvalSplit,
    scores: dict,
    model_dir: Path,
    *,
    bias: bool,
    bias_users: int,
    counterfactual_examples: int,
    pathway_max_steps: int | None,
    min_group_rows: int,
    batch_size: int,
    progress: bool,
) -> dict:
    """The bias report: group metrics and concentration always; goal reach and counterfactual
    stability unless ``bias`` is False (then marked skipped)."""
    out = group_report(sp.rows, scores, sp.course_ids, sp.job_ids, min_group_rows)
    if not bias:
        out["goal_reach"] = {"skipped": True}
        out["counterfactual"] = {"skipped": True}
        return out
    out.update(
        behaviour_report(
            recommender_for(lm.bundle),
            ModelScorer(lm.scorer, batch_size=batch_size, progress=False),
            sp.rows,
            sp.catalog,
            sp.course_ids,
            bias_users=bias_users,
            counterfactual_examples=counterfactual_examples,
            pathway_max_steps=pathway_max_steps,
            min_group_rows=min_group_rows,
            progress=progress,
        )
    )
    return out


def _write(out: dict, out_dir: Path) -> None:
    (out_dir / "metrics.json").write_text(json.dumps(out, indent=1) + "\n", encoding="utf-8")
    (out_dir / "report.md").write_text(render_report(out), encoding="utf-8")
    write_plots(out, out_dir)


def evaluate_model(
    model_dir: str | Path,
    data_dir: str | Path,
    split: str = "test",
    *,
    out_dir: str | Path,
    baselines_dir: str | Path | None = None,
    max_examples: int | None = None,
    generation_examples: int | None = None,
    train_baselines_if_missing: bool = True,
    seed: int = 0,
    bias: bool = True,
    bias_users: int = 60,
    counterfactual_examples: int = 20,
    pathway_max_steps: int | None = None,
    min_group_rows: int = 10,
    batch_size: int = 16,
    progress: bool = True,
    log: Callable[[str], None] = print,
) -> dict:
    """Evaluate ``model_dir`` on ``DATA/<split>.jsonl`` against baselines and the oracle; write ``out_dir``.

    ``max_examples`` keeps a seeded sample of rows (file order kept); ``generation_examples`` caps the
    rows used for generation metrics (default: all evaluated rows; 0 skips generation). With
    ``bias=False`` the expensive bias parts (pathways, counterfactual stability) are skipped; the
    group metrics and concentration are always computed. Returns the ``metrics.json`` dict.
    """
    started = time.time()
    model_dir, data_dir, out_dir = resolve_model_dir(model_dir), Path(data_dir), Path(out_dir)
    _check_model_dir(model_dir)
    check_same_context(model_dir, data_dir)
    sp = _load_split(data_dir, split, max_examples, seed)
    rows, course_ids, job_ids = sp.rows, sp.course_ids, sp.job_ids
    out_dir.mkdir(parents=True, exist_ok=True)
    timing: dict[str, float] = {}

    t = time.time()  # the model, through the shared ranking path
    lm = _load_model(model_dir, sp.catalog)
    log(f"scoring {len(rows)} {split} rows against {len(course_ids)} courses and {len(job_ids)} jobs + stay")
    scores: dict = {}  # name -> (course_logp, job_logp) on the rows, for the bias report
    model_result = _score_all(
        {"model": ModelScorer(lm.scorer, batch_size=batch_size, progress=progress)}, sp, scores
    )["model"]
    timing["model_scoring"] = time.time() - t

    t = time.time()
    n_gen = len(rows) if generation_examples is None else min(int(generation_examples), len(rows))
    model_result["generation"] = _generation(lm, sp, model_dir, n_gen, batch_size)
    model_result["log_loss"] = {s: model_result[s]["log_loss"] for s in RANK_SECTIONS}
    timing["generation"] = time.time() - t

    t = time.time()  # baselines on the same rows
    baselines_dir = Path(baselines_dir) if baselines_dir else None
    trained, sources = load_or_train_baselines(
        data_dir, out_dir, baselines_dir, course_ids, job_ids, train_baselines_if_missing, seed, log
    )
    base_results = _score_all(_comparison_scorers(lm, sp, data_dir, trained, batch_size), sp, scores)
    timing["baselines"] = time.time() - t

    oracle = score_oracles(sp, data_dir, scores)
    paired = {}
    if "course_prior" in scores:  # the model with its priors against the priors alone, row by row
        paired = paired_comparison(scores["model"], scores["course_prior"], rows, course_ids, job_ids)

    t = time.time()
    bias_out = _bias(
        lm,
        sp,
        scores,
        model_dir,
        bias=bias,
        bias_users=bias_users,
        counterfactual_examples=counterfactual_examples,
        pathway_max_steps=pathway_max_steps,
        min_group_rows=min_group_rows,
        batch_size=batch_size,
        progress=progress,
    )
    timing["bias"] = time.time() - t
    timing["total"] = time.time() - started

    out = _clean(
        {
            "split": split,
            "n": len(rows),
            "n_split": sp.n_total,
            "catalog": {"courses": len(course_ids), "jobs": len(job_ids)},
            "model_dir": str(model_dir),
            "data_dir": str(data_dir),
            "model": model_result,
            "baselines": base_results,
            "baseline_sources": sources,
            "oracle": oracle,
            "ratio_to_ceiling": _ratio_to_ceiling(model_result, oracle.get("oracle")),
            "model_vs_priors": paired,
            "bias": bias_out,
            "seed": seed,
            "timing_s": {k: round(v, 2) for k, v in timing.items()},
        }
    )
    _write(out, out_dir)
    return out


# -- the command ---------------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    p = ArgumentParser(
        prog="careerpath evaluate",
        description="model vs baselines vs oracle ceiling, full-catalog ranking, bias report",
        formatter_class=HelpFormatter,
    )
    p.add_argument(
        "--model", required=True, help="trained model folder (from `careerpath quickstart` / train.py)"
    )
    p.add_argument("--data", required=True, help="dataset folder from `careerpath data build`")
    p.add_argument("--split", default="test", choices=bl.SPLITS, help="which split to score")
    p.add_argument("--out", required=True, help="report folder: metrics.json, report.md, PNG plots")
    p.add_argument(
        "--baselines", default=None, help="folder of trained baselines (default: train into OUT/baselines)"
    )
    p.add_argument("--max-examples", type=int, default=None, help="evaluate a seeded sample of N rows")
    p.add_argument(
        "--generation-examples",
        type=int,
        default=None,
        help="rows used for generation metrics (default: all evaluated; 0: skip)",
    )
    p.add_argument(
        "--no-bias", action="store_true", help="skip goal-reach pathways and counterfactual stability"
    )
    p.add_argument("--bias-users", type=int, default=60, help="users whose goal pathway is planned")
    p.add_argument("--seed", type=int, default=0, help="seed for the row sample and the GRU baseline")
    p.add_argument("--batch-size", type=int, default=16, help="examples per model forward pass")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    add_json_flag(p)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """``careerpath evaluate --model DIR --data DATA [--split test] --out REPORT [...]``; 0 on success, 2 on bad input."""
    args = build_parser().parse_args(argv)
    try:  # inputs first: nothing is written under --out before they are all there
        require_model(args.model)
        require_path(args.data, "--data", "dir", hint="build one with `careerpath data build`")
        if args.baselines is not None:
            require_path(
                args.baselines, "--baselines", "dir", hint="train them with `careerpath baselines train`"
            )
        m = evaluate_model(
            args.model,
            args.data,
            args.split,
            out_dir=args.out,
            baselines_dir=args.baselines,
            max_examples=args.max_examples,
            generation_examples=args.generation_examples,
            seed=args.seed,
            bias=not args.no_bias,
            bias_users=args.bias_users,
            batch_size=args.batch_size,
            progress=not (args.quiet or args.json) and show_progress(),
            log=lambda s: print(s, file=sys.stderr),
        )
    except (FileNotFoundError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if args.json:
        print_json(m)
        return 0
    print(main_table(m))
    r = m["ratio_to_ceiling"]
    print(
        f"model / ceiling (Acc@1): next course {fmt(r['next_course'])}, next job {fmt(r['next_job'])}, "
        f"job moves {fmt(r['next_job_moves'])}"
    )
    print(f"wrote {Path(args.out) / 'metrics.json'}, report.md, hit_at_k.png, by_family.png")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
