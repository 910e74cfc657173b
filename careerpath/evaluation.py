"""``careerpath evaluate``: the model against the baselines and the oracle ceiling, on one split.

Everything is ranked over the *full* catalog by the same code (:func:`careerpath.metrics.evaluate_scorer`):

- the model through :class:`careerpath.scoring.ModelScorer`, a thin adapter over :class:`careerpath.scoring.CatalogScorer`,
  which is the ranking path the recommendation engine uses, so what is measured is what is served;
- the baselines (popularity, stay rule, Markov, GRU), loaded from ``--baselines`` or trained into
  ``OUT/baselines`` on the same dataset when missing;
- the oracle ceiling twice: Bayes-optimal from the text (``probs_visible``, the one to approach) and
  with the hidden traits known (``probs``), both re-scored here and also copied from ``stats.json``.

On top: generation quality (BLEU, exact match, skills-gained P/R/F1, validity of generated names),
model / ceiling ratios, and the bias report (group gaps by starting job family and level, goal-reach
rate of :meth:`careerpath.recommend.Recommender.pathway`, coverage and Gini of the top-10 lists,
counterfactual stability). Outputs in ``OUT``: ``metrics.json``, ``report.md`` (rendered from
``metrics.json`` by :func:`render_report`), ``hit_at_k.png`` and ``by_family.png``.

    careerpath evaluate --model outputs/tiny_t5 --data outputs/data --out outputs/eval
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from careerpath import baselines as bl
from careerpath import bias as bias_mod
from careerpath import metrics as M
from careerpath import scoring
from careerpath.job_prior import load_job_prior
from careerpath.scoring import ModelScorer

BASELINE_NAMES = ("popularity", "stay_rule", "markov", "gru")
ORACLES = {"oracle": "probs_visible", "oracle_traits_known": "probs"}
LABELS = {
    "model": "model",
    "popularity": "popularity",
    "stay_rule": "stay rule",
    "markov": "Markov",
    "gru": "GRU",
    "gap_rule": "skill-gap rule",
    "course_prior": "priors alone (course and job priors, no model)",
    "model_no_prior": "model without its priors",
    "oracle": "oracle (from the text)",
    "oracle_traits_known": "oracle (traits known)",
}
RANK_SECTIONS = ("next_course", "next_job", "next_job_moves")


class PriorScorer:
    """A model's priors alone, without the model: the course prior (careerpath/prior.py) over the
    courses; jobs from the job prior (careerpath/job_prior.py) mixed over that course distribution,
    or as ``job_scorer`` (the skill-gap rule) has them when the model has no job prior."""

    name = "course_prior"

    def __init__(self, prior, job_scorer, job_prior=None):
        self.prior, self.job_scorer, self.job_prior = prior, job_scorer, job_prior

    def score(self, rows: Sequence[dict]) -> tuple[np.ndarray, np.ndarray]:
        course = np.stack([self.prior.for_row(r) for r in rows]).astype(np.float64)
        course = course - scoring._logsumexp(course)[:, None]
        if self.job_prior is None:
            return course, self.job_scorer.score(rows)[1]
        jobs = np.stack(
            [
                np.log(
                    np.maximum(
                        self.job_prior.table(r["job_id"], r["goal_id"], r["skill_ids"]).mixture(np.exp(c)),
                        1e-300,
                    )
                )
                for r, c in zip(rows, course, strict=True)
            ]
        )
        return course, jobs


class _Recorded:
    """Wraps a scorer and keeps its last output, so one scoring pass feeds metrics and bias."""

    def __init__(self, scorer) -> None:
        self.scorer, self.last = scorer, None

    def score(self, rows):
        self.last = self.scorer.score(rows)
        return self.last


def paired_comparison(a, b, rows, course_ids, job_ids) -> dict:
    """Scorer ``a`` minus scorer ``b`` (each ``(course_logp, job_logp)``) on the same rows: Acc@1
    and log-loss differences for the next course and the next job, with 95% bootstrap intervals
    that resample users (a person's rows are not independent). An interval above 0 (Acc@1) or
    below 0 (log-loss) says ``a`` is better beyond the noise of this split."""
    gold_c, gold_j = M.gold_indices(rows, course_ids, job_ids)
    mask = M.taken_mask(rows, course_ids)
    users = [r.get("user_id", str(i)) for i, r in enumerate(rows)]
    out = {}
    for name, k, gold, m in (("next_course", 0, gold_c, mask), ("next_job", 1, gold_j, None)):
        keep = gold >= 0
        per = {}
        for label, sc in (("a", a[k]), ("b", b[k])):
            ranks = M.rank_of_gold(sc, gold, m)
            lp = sc - scoring._logsumexp(M._masked(sc, m) if m is not None else sc)[:, None]
            per[label] = (
                (ranks == 1).astype(float),
                -np.take_along_axis(lp, np.maximum(gold, 0)[:, None], 1)[:, 0],
            )
        u = [users[i] for i in np.flatnonzero(keep)]
        out[name] = {
            "acc@1": M.clustered_bootstrap_ci((per["a"][0] - per["b"][0])[keep], u),
            "log_loss": M.clustered_bootstrap_ci(np.clip(per["a"][1] - per["b"][1], -50, 50)[keep], u),
        }
    return out


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


def _generation_settings(model_dir: Path) -> dict:
    """max_new_tokens / num_beams / max_source_length from the model's training config, if any."""
    out = {"max_new_tokens": 48, "num_beams": 1, "max_source_length": 256}
    cfg = model_dir / "config.yaml"
    if cfg.is_file():
        import yaml

        data = yaml.safe_load(cfg.read_text(encoding="utf-8")) or {}
        gen, dat = data.get("generation") or {}, data.get("data") or {}
        out["max_new_tokens"] = int(gen.get("max_new_tokens", out["max_new_tokens"]))
        out["num_beams"] = int(gen.get("num_beams", out["num_beams"]))
        out["max_source_length"] = int(dat.get("max_source_length", out["max_source_length"]))
    return out


def generation_metrics(predictions: Sequence[str], references: Sequence[str], catalog) -> dict:
    """BLEU, exact match, skills-gained P/R/F1 and validity of generated next course / next job.

    A generation without a ``next_job:`` field counts as an invalid job (the lenient parser would
    otherwise read it as "stay", which is always valid).
    """
    from careerpath.generation import compute_metrics
    from data_prep.textformat import parse_target

    preds = [parse_target(p) for p in predictions]
    refs = [parse_target(r) for r in references]
    course_titles = [c.title for c in catalog.courses.values()]
    job_titles = [j.title for j in catalog.jobs.values()]
    jobs = [p.next_job if "next_job:" in text else "" for p, text in zip(preds, predictions, strict=True)]
    extra = compute_metrics(list(predictions), list(references)) if predictions else {}
    return {
        "n": len(predictions),
        "bleu": M.corpus_bleu(predictions, references) if predictions else float("nan"),
        "exact_match": M.exact_match(predictions, references),
        "skills_gained": M.set_prf([p.skills_gained for p in preds], [r.skills_gained for r in refs]),
        "validity": {
            "next_course": M.validity([p.next_course for p in preds], course_titles),
            "next_job": M.validity(jobs, job_titles, allow_stay=True),
        },
        "next_course_acc": extra.get("next_course_acc", float("nan")),
        "next_job_acc": extra.get("next_job_acc", float("nan")),
        "next_job_acc_moves": extra.get("next_job_acc_moves", float("nan")),
    }


def _load_or_train_baselines(
    data_dir: Path,
    out_dir: Path,
    baselines_dir: Path | None,
    course_ids,
    job_ids,
    train_if_missing: bool,
    seed: int,
    log,
) -> tuple[dict, dict]:
    """``({name: scorer}, {name: where it came from})``; missing ones are trained into ``OUT/baselines``."""
    loaded, source, missing = {}, {}, []
    for name in BASELINE_NAMES:
        folder = baselines_dir / name if baselines_dir else None
        if folder is not None and (folder / "baseline.json").is_file():
            model = bl.load_baseline(folder)
            if list(model.course_ids) != list(course_ids) or list(model.job_ids) != list(job_ids):
                raise ValueError(
                    f"{folder}: trained on another catalog than {data_dir}; retrain with "
                    f"`careerpath baselines train --data {data_dir} --out {baselines_dir}` or drop --baselines"
                )
            loaded[name], source[name] = model, str(folder)
        else:
            missing.append(name)
    if missing and train_if_missing:
        target = out_dir / "baselines"
        log(f"training baselines {', '.join(missing)} into {target}")
        bl.train_baselines(data_dir, target, only=missing, seed=seed, log=lambda *a, **k: None)
        for name in missing:
            loaded[name], source[name] = bl.load_baseline(target / name), str(target / name)
    elif missing:
        log(f"baselines {', '.join(missing)} not found in {baselines_dir}; left out of the comparison")
    return {n: loaded[n] for n in BASELINE_NAMES if n in loaded}, source


def _first_row_per_user(rows: Sequence[dict]) -> list[dict]:
    seen, out = set(), []
    for r in rows:
        if r.get("user_id") not in seen:
            seen.add(r.get("user_id"))
            out.append(r)
    return out


def goal_reach(
    recommender,
    rows: Sequence[dict],
    catalog,
    max_users: int = 60,
    max_steps: int | None = None,
    min_rows: int = 10,
    progress: bool = True,
) -> dict:
    """Pathways from each user's first row (goal = ``goal_id``): goal reach, hours against the
    shortest plan, and course steps, for the model's plans and for the skill-gap rule's.

    A goal is *reachable* when an exact search (:meth:`Planner.shortest`) finds a plan; rates are
    over reachable goals (``n_unreachable`` counts the others, whose plans never claim a reach).
    ``hours_ratio``: mean of plan hours / shortest hours over plans that reach the goal.
    ``reached_by_model`` (``rate_model_only``): plans whose every course is the model's own choice.
    ``max_steps``: a step budget (None: none). Rates by start family / level.
    """
    from tqdm.auto import tqdm

    from careerpath.profile import ResolvedProfile

    users = [r for r in _first_row_per_user(rows) if r.get("goal_id") in catalog.jobs][:max_users]
    kept, reached, by_model = [], [], []
    plans: dict[str, dict[str, list[float]]] = {
        k: {"reached": [], "ratio": [], "steps": [], "hours": []} for k in ("model", "skill-gap")
    }
    for r in tqdm(users, desc="pathways", disable=not progress, leave=False):
        prof = ResolvedProfile(
            job=r.get("job_id"),
            goal=r["goal_id"],
            history=list(r.get("history_ids") or []),
            skills=list(r.get("skill_ids") or []),
            courses=list(r.get("course_ids") or []),
        )
        p = recommender.pathway(prof, max_steps=max_steps)
        if p.shortest_hours is None:  # no plan reaches this goal: not counted in the rates
            continue
        kept.append(r)
        reached.append(float(p.reached))
        by_model.append(float(p.reached and not p.fallback))
        q = recommender.pathway(prof, max_steps=max_steps, planner="skill-gap")
        for name, plan in (("model", p), ("skill-gap", q)):
            plans[name]["reached"].append(float(plan.reached))
            plans[name]["steps"].append(float(plan.course_steps))
            plans[name]["hours"].append(float(plan.total_hours))
            if plan.reached and plan.hours_ratio is not None:
                plans[name]["ratio"].append(plan.hours_ratio)
    mean = lambda xs: float(np.mean(xs)) if xs else float("nan")  # noqa: E731
    out = {
        "n_users": len(users),
        "n_unreachable": len(users) - len(kept),
        "max_steps": max_steps,
        "rate": mean(reached),
        "rate_model_only": mean(by_model),
        "plans": {
            name: {
                "reach": mean(v["reached"]),
                "hours_ratio": mean(v["ratio"]),
                "max_hours_ratio": max(v["ratio"], default=float("nan")),
                "steps": mean(v["steps"]),
                "hours": mean(v["hours"]),
            }
            for name, v in plans.items()
        },
    }
    for key in ("start_family", "start_level"):
        if kept and all(key in u for u in kept):
            out[f"by_{key}"] = bias_mod.group_rates(kept, reached, key, min_rows=min_rows)
            out[f"by_{key}_model_only"] = bias_mod.group_rates(kept, by_model, key, min_rows=min_rows)
    return out


# -- the evaluation ------------------------------------------------------------------------------
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
    from careerpath.hub import resolve_model_dir

    model_dir, data_dir, out_dir = resolve_model_dir(model_dir), Path(data_dir), Path(out_dir)
    _check_model_dir(model_dir)
    check_same_context(model_dir, data_dir)
    rows = bl.load_split(data_dir, split)
    if not rows:
        raise ValueError(f"{data_dir / (split + '.jsonl')}: no rows to evaluate")
    n_total = len(rows)
    if max_examples and max_examples < len(rows):
        keep = np.sort(np.random.default_rng(seed).choice(len(rows), size=int(max_examples), replace=False))
        rows = [rows[i] for i in keep]
    from data_prep.catalog import load_catalog

    catalog = load_catalog(data_dir / "catalog")
    course_ids, job_ids = bl.read_catalog_ids(data_dir)
    if course_ids != list(catalog.courses) or job_ids != list(catalog.jobs):
        raise ValueError(
            f"{data_dir}/catalog: course/job order differs between the CSVs and the loaded catalog"
        )
    out_dir.mkdir(parents=True, exist_ok=True)
    timing: dict[str, float] = {}

    # the model, through the shared ranking path
    from careerpath.modeling import load_for_inference

    t = time.time()
    from careerpath.prior import load_prior

    model, tokenizer, kind = load_for_inference(model_dir)
    prior = load_prior(model_dir, catalog)  # a model trained as a residual on its priors
    job_prior = load_job_prior(model_dir, catalog, prior.retriever) if prior is not None else None
    cat_scorer = scoring.CatalogScorer(model, tokenizer, catalog, kind=kind, prior=prior, job_prior=job_prior)
    model_scorer = _Recorded(ModelScorer(cat_scorer, batch_size=batch_size, progress=progress))
    log(f"scoring {len(rows)} {split} rows against {len(course_ids)} courses and {len(job_ids)} jobs + stay")
    results = {"model": M.evaluate_scorer(model_scorer, rows, course_ids, job_ids)}
    scores = {"model": model_scorer.last}
    timing["model_scoring"] = time.time() - t

    # generation
    t = time.time()
    n_gen = len(rows) if generation_examples is None else min(int(generation_examples), len(rows))
    if n_gen > 0:
        from careerpath.generation import generate

        g = _generation_settings(model_dir)
        gen_rows = rows[:n_gen]
        preds = generate(
            model,
            tokenizer,
            kind,
            [r["input_text"] for r in gen_rows],
            batch_size=max(batch_size, 32),
            max_new_tokens=g["max_new_tokens"],
            num_beams=g["num_beams"],
            max_source_length=g["max_source_length"],
            prior=prior,
            job_prior=job_prior,
        )
        generation = generation_metrics(preds, [r["target_text"] for r in gen_rows], catalog)
        generation["examples"] = [
            {"input": r["input_text"], "target": r["target_text"], "generated": p}
            for r, p in zip(gen_rows[:5], preds[:5], strict=True)
        ]
    else:
        generation = {"n": 0, "skipped": True}
    results["model"]["generation"] = generation
    results["model"]["log_loss"] = {s: results["model"][s]["log_loss"] for s in RANK_SECTIONS}
    timing["generation"] = time.time() - t

    # baselines on the same rows
    t = time.time()
    scorers, sources = _load_or_train_baselines(
        data_dir,
        out_dir,
        Path(baselines_dir) if baselines_dir else None,
        course_ids,
        job_ids,
        train_baselines_if_missing,
        seed,
        log,
    )
    # the catalog's own rule (no training): the retriever behind the model's context fields
    from data_prep.context import GapRetriever, load_context_file, progression_for

    info = load_context_file(data_dir)
    retriever = GapRetriever(catalog, progression_for(catalog, info), info["context"] if info else None)
    scorers = {**scorers, "gap_rule": bl.GapRuleScorer(retriever, job_ids)}
    if prior is not None:  # the priors without the model, and the model without the priors
        scorers["course_prior"] = PriorScorer(prior, scorers["gap_rule"], job_prior)
        alone = scoring.CatalogScorer(model, tokenizer, catalog, kind=kind)
        scorers["model_no_prior"] = ModelScorer(alone, batch_size=batch_size, progress=False)
    base_results = {}
    for name, s in scorers.items():
        rec = _Recorded(s)
        base_results[name] = M.evaluate_scorer(rec, rows, course_ids, job_ids)
        scores[name] = rec.last
    timing["baselines"] = time.time() - t

    # the ceiling
    stats_path = data_dir / "stats.json"
    stats = json.loads(stats_path.read_text(encoding="utf-8")) if stats_path.is_file() else {}
    oracle: dict = {}
    has_probs = all(r.get("probs_visible") for r in rows)
    for name, which in ORACLES.items():
        if has_probs:
            rec = _Recorded(bl.OracleScorer(course_ids, job_ids, which, catalog))
            oracle[name] = M.evaluate_scorer(rec, rows, course_ids, job_ids)
            if name == "oracle":  # the ceiling also joins the concentration table and by-family plot
                scores[name] = rec.last
    split_stats = (stats.get("oracle") or {}).get(split) or {}
    oracle["stats"] = {
        "visible": split_stats.get("visible"),
        "traits_known": split_stats.get("traits_known"),
        "note": "from stats.json, computed on the whole split"
        + (f" ({n_total} rows; {len(rows)} evaluated here)" if len(rows) != n_total else ""),
    }
    if split == "test":
        oracle["stats"]["oracle_acc"] = stats.get("oracle_acc")
        oracle["stats"]["oracle_acc_traits_known"] = stats.get("oracle_acc_traits_known")
    ceiling = oracle.get("oracle")
    paired = {}
    if "course_prior" in scores:  # the model with its priors against the priors alone, row by row
        paired = paired_comparison(scores["model"], scores["course_prior"], rows, course_ids, job_ids)
    ratio = {
        s: _ratio(results["model"][s]["acc@1"], ceiling[s]["acc@1"] if ceiling else None)
        for s in RANK_SECTIONS
    }

    # bias
    t = time.time()
    bias_out: dict = {}
    c_lp, j_lp = scores["model"]
    for key in ("start_family", "start_level"):
        if all(key in r for r in rows):
            bias_out[f"by_{key}"] = bias_mod.group_metrics(
                rows, c_lp, j_lp, key, course_ids, job_ids, min_rows=min_group_rows
            )
    bias_out["largest_gaps"] = {
        k[3:]: v["largest_gap"] for k, v in list(bias_out.items()) if k.startswith("by_")
    }
    conc = bias_mod.recommendation_concentration(c_lp, rows, course_ids, k=10)
    bias_out["coverage@10"], bias_out["gini@10"] = conc["coverage@10"], conc["gini@10"]
    bias_out["concentration"] = {
        name: bias_mod.recommendation_concentration(s[0], rows, course_ids, k=10)
        for name, s in scores.items()
    }
    if "by_start_family" in bias_out:
        bias_out["course_hit@10_by_start_family"] = {
            name: {
                g: v["course_hit@10"]
                for g, v in bias_mod.group_metrics(
                    rows, s[0], s[1], "start_family", course_ids, job_ids, min_rows=min_group_rows
                )["groups"].items()
            }
            for name, s in scores.items()
        }
    if bias:
        rec_engine = _recommender(model, tokenizer, kind, catalog, Path(model_dir))
        bias_out["goal_reach"] = goal_reach(
            rec_engine,
            rows,
            catalog,
            max_users=bias_users,
            max_steps=pathway_max_steps,
            min_rows=min_group_rows,
            progress=progress,
        )
        cf_rows = rows[: max(0, int(counterfactual_examples))]
        cf_scorer = ModelScorer(cat_scorer, batch_size=batch_size, progress=False)
        bias_out["counterfactual"] = bias_mod.counterfactual_stability(
            cf_scorer.score, cf_rows, course_ids, k=10
        )
    else:
        bias_out["goal_reach"] = {"skipped": True}
        bias_out["counterfactual"] = {"skipped": True}
    timing["bias"] = time.time() - t
    timing["total"] = time.time() - started

    out = _clean(
        {
            "split": split,
            "n": len(rows),
            "n_split": n_total,
            "catalog": {"courses": len(course_ids), "jobs": len(job_ids)},
            "model_dir": str(model_dir),
            "data_dir": str(data_dir),
            "model": results["model"],
            "baselines": base_results,
            "baseline_sources": sources,
            "oracle": oracle,
            "ratio_to_ceiling": ratio,
            "model_vs_priors": paired,
            "bias": bias_out,
            "seed": seed,
            "timing_s": {k: round(v, 2) for k, v in timing.items()},
        }
    )
    (out_dir / "metrics.json").write_text(json.dumps(out, indent=1) + "\n", encoding="utf-8")
    (out_dir / "report.md").write_text(render_report(out), encoding="utf-8")
    _plots(out, out_dir)
    return out


def check_same_context(model_dir: Path, data_dir: Path) -> None:
    """Refuse to score rows whose inputs were made differently from the model's training inputs
    (with and without catalog context, or with other context settings): the figures would be
    those of a model reading inputs it never saw."""
    from data_prep.context import load_context_file

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


def _recommender(model, tokenizer, kind, catalog, model_dir: Path):
    """The recommender over the evaluated catalog, with the model's catalog context settings."""
    from careerpath.recommend import Recommender
    from data_prep.context import load_context_file, progression_for

    info = load_context_file(model_dir)
    extra = {"context": info["context"], "progression": progression_for(catalog, info)} if info else {}
    rec = Recommender(model, tokenizer, kind, catalog, use_embeddings=False, **extra)
    from careerpath.prior import load_prior

    rec.scorer.prior = load_prior(model_dir, catalog, rec.context)
    rec.scorer.job_prior = load_job_prior(model_dir, catalog, rec.context)
    return rec


def _plots(m: dict, out_dir: Path) -> None:
    from careerpath import plots

    curves = {LABELS["model"]: m["model"]["curves"]["next_course"]}
    curves.update({LABELS[n]: r["curves"]["next_course"] for n, r in m["baselines"].items()})
    tk = m["oracle"].get("oracle_traits_known")
    if tk:
        curves[LABELS["oracle_traits_known"]] = tk["curves"]["next_course"]
    vis = m["oracle"].get("oracle")
    plots.plot_hit_at_k(
        {k: [np.nan if x is None else x for x in v] for k, v in curves.items()},
        out_dir / "hit_at_k.png",
        title=f"Next course: Hit@k over the full catalog ({m['split']}, n={m['n']})",
        ceiling=vis["curves"]["next_course"] if vis else None,
    )
    values = m["bias"].get("course_hit@10_by_start_family") or {}
    groups = (m["bias"].get("by_start_family") or {}).get("groups", {})
    plots.plot_group_bars(
        {LABELS.get(k, k): {g: np.nan if x is None else x for g, x in v.items()} for k, v in values.items()},
        out_dir / "by_family.png",
        metric="Hit@10",
        title="Next course Hit@10 by starting job family",
        counts={g: v["n"] for g, v in groups.items()},
    )


# -- the report ----------------------------------------------------------------------------------
def _f(x, digits: int = 3) -> str:
    return "–" if x is None or (isinstance(x, float) and not math.isfinite(x)) else f"{x:.{digits}f}"


def _method_rows(m: dict) -> list[tuple[str, dict]]:
    out = [(LABELS["model"], m["model"])]
    out += [(LABELS.get(n, n), r) for n, r in m["baselines"].items()]
    out += [(LABELS[n], m["oracle"][n]) for n in ORACLES if m["oracle"].get(n)]
    return out


def main_table(m: dict) -> str:
    """The side-by-side ranking table (markdown) of every method."""
    head = (
        "| method | course Acc@1 | course Hit@10 | course MRR | course log-loss | job Acc@1 | job log-loss "
        "| move timing AUC | move destination Acc@1 | move destination Hit@10 |"
    )
    lines = [head, "|" + "---|" * 10]
    for label, r in _method_rows(m):
        c, j = r["next_course"], r["next_job"]
        t, d = r.get("move_timing") or {}, r.get("move_destination") or {}
        lines.append(
            f"| {label} | {_f(c['acc@1'])} | {_f(c['hit@10'])} | {_f(c['mrr'])} | {_f(c['log_loss'])} | "
            f"{_f(j['acc@1'])} | {_f(j['log_loss'])} | {_f(t.get('auc'))} | {_f(d.get('acc@1'))} | "
            f"{_f(d.get('hit@10'))} |"
        )
    return "\n".join(lines)


def paired_lines(m: dict) -> list[str]:
    """The model against its priors alone, row by row, with user-clustered 95% intervals."""
    pv = m.get("model_vs_priors") or {}
    if not pv:
        return []
    out = ["**Model with its priors minus the priors alone** (same rows; 95% intervals resampling users):"]
    for section, name in (("next_course", "next course"), ("next_job", "next job")):
        if section in pv:
            a, ll = pv[section]["acc@1"], pv[section]["log_loss"]
            out.append(
                f"{name} Acc@1 {a['mean']:+.4f} [{a['lo']:+.4f}, {a['hi']:+.4f}], "
                f"log-loss {ll['mean']:+.4f} [{ll['lo']:+.4f}, {ll['hi']:+.4f}]."
            )
    return [" ".join(out), ""]


def render_report(m: dict) -> str:
    """``report.md`` from a ``metrics.json`` dict (so the report can be re-rendered without re-scoring)."""
    mc = m["model"]["next_course"]
    n_moves = m["model"]["next_job_moves"]["n"]
    parts = [
        f"# careerpath evaluation: `{m['model_dir']}`",
        "",
        f"Split **{m['split']}** of `{m['data_dir']}`: {m['n']} examples"
        + (f" (sampled from {m['n_split']})" if m.get("n_split") and m["n_split"] != m["n"] else "")
        + f", {mc['n']} with a next course, {n_moves} job moves. Every method ranks the full catalog "
        f"({m['catalog']['courses']} courses, {m['catalog']['jobs']} jobs + stay); courses already taken are "
        "hidden; ties count against the method.",
        "",
        "## Ranking",
        "",
        main_table(m),
        "",
    ]
    r = m["ratio_to_ceiling"]
    parts += paired_lines(m)
    parts += [
        "**Model / ceiling** (Acc@1 over the oracle from the text): "
        f"next course {_f(r['next_course'])}, next job {_f(r['next_job'])}, next job on moves "
        f"{_f(r['next_job_moves'])}.",
        "",
    ]
    st = m["oracle"].get("stats") or {}
    if st.get("visible"):
        v, tk = st["visible"], st.get("traits_known") or {}
        parts += [
            f"Ceiling stated by the dataset build (`stats.json`, {m['split']}, whole split): from the text next course "
            f"{_f(v.get('next_course'), 4)}, next job {_f(v.get('next_job'), 4)}, moves "
            f"{_f(v.get('next_job_moves'), 4)}; traits known next course {_f(tk.get('next_course'), 4)}, next job "
            f"{_f(tk.get('next_job'), 4)}, moves {_f(tk.get('next_job_moves'), 4)}.",
            "",
        ]
    g = m["model"].get("generation") or {}
    parts += ["## Generation (model)", ""]
    if g.get("skipped") or not g.get("n"):
        parts += ["Skipped.", ""]
    else:
        sg, val = g["skills_gained"], g["validity"]
        parts += [
            "| n | BLEU | exact match | skills P | skills R | skills F1 | valid course | valid job | course acc | "
            "job acc |",
            "|" + "---|" * 10,
            f"| {g['n']} | {_f(g['bleu'], 1)} | {_f(g['exact_match'])} | {_f(sg['precision'])} | {_f(sg['recall'])} "
            f"| {_f(sg['f1'])} | {_f(val['next_course'])} | {_f(val['next_job'])} | {_f(g['next_course_acc'])} | "
            f"{_f(g['next_job_acc'])} |",
            "",
            "Validity: share of generated next course / next job names that are real catalog titles ('stay' is a "
            "valid job; a generation without a `next_job:` field is not). Ranking above does not depend on "
            "generation: it scores every catalog item.",
            "",
        ]
    b = m["bias"]
    parts += ["## Bias", ""]
    for key in ("start_family", "start_level"):
        gm = b.get(f"by_{key}")
        if not gm:
            continue
        parts += [
            f"### By {key.replace('_', ' ')} (model)",
            "",
            "| group | n | course Acc@1 | course Hit@10 | job Acc@1 | job Hit@10 | move Acc@1 | move Hit@10 |",
            "|" + "---|" * 8,
        ]
        for grp, v in gm["groups"].items():
            parts.append(
                f"| {grp} | {v['n']} | {_f(v['course_acc@1'])} | {_f(v['course_hit@10'])} | "
                f"{_f(v['job_acc@1'])} | {_f(v['job_hit@10'])} | {_f(v['move_acc@1'])} | "
                f"{_f(v['move_hit@10'])} |"
            )
        lg = gm["largest_gap"]
        parts += [
            "",
            f"Largest gap: {lg['metric']} {_f(lg['gap'])} ({lg['best_group']} vs {lg['worst_group']})"
            if lg.get("metric")
            else "Largest gap: none (fewer than two groups large enough to compare).",
            "",
        ]
    gr = b.get("goal_reach") or {}
    if gr.get("skipped"):
        parts += ["Goal reach: skipped (`--no-bias`).", ""]
    elif gr:
        parts += [
            f"### Goal reach ({gr['n_users']} users, first row each; "
            f"{gr.get('n_unreachable', 0)} goals no plan reaches left out"
            + (f"; at most {gr['max_steps']} course steps" if gr.get("max_steps") else "")
            + ")",
            "",
            f"Reached: {_f(gr['rate'])} (every course the model's own choice: {_f(gr['rate_model_only'])}).",
            "",
            "| plan | goal reach | hours / shortest (mean) | worst | course steps | hours |",
            "|---|---|---|---|---|---|",
            *(
                f"| {name} | {_f(v['reach'])} | {_f(v['hours_ratio'])} | {_f(v['max_hours_ratio'])} | "
                f"{_f(v['steps'])} | {_f(v['hours'])} |"
                for name, v in (gr.get("plans") or {}).items()
            ),
            "",
        ]
        for key in ("start_family", "start_level"):
            grp = gr.get(f"by_{key}")
            if grp:
                mo = gr.get(f"by_{key}_model_only", {}).get("groups", {})
                cells = ", ".join(
                    f"{k} {_f(v['rate'])} / {_f(mo.get(k, {}).get('rate'))} (n={v['n']})"
                    for k, v in grp["groups"].items()
                )
                parts += [
                    f"- by {key.replace('_', ' ')} (reached / model only): {cells}; gap {_f(grp['gap'])}"
                ]
        parts.append("")
    parts += [
        "### Concentration of the top-10 course lists",
        "",
        "| method | coverage@10 | gini@10 |",
        "|---|---|---|",
    ]
    for name, c in (b.get("concentration") or {}).items():
        parts.append(f"| {LABELS.get(name, name)} | {_f(c['coverage@10'])} | {_f(c['gini@10'])} |")
    parts.append("")
    cf = b.get("counterfactual") or {}
    if cf.get("skipped"):
        parts += ["Counterfactual stability: skipped (`--no-bias`).", ""]
    elif cf:
        parts += [
            f"Counterfactual stability (name, pronoun and age added to the text; {cf['n']} rows, "
            f"{cf['variants']} variants): top-10 unchanged for {_f(cf['stability'])} of rows (courses "
            f"{_f(cf.get('course_top10_unchanged'))}, jobs {_f(cf.get('job_top10_unchanged'))}).",
            "",
        ]
    parts += ["![Hit@k](hit_at_k.png)", "", "![By family](by_family.png)", ""]
    return "\n".join(parts)


# -- the command ---------------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    from careerpath.cli_common import ArgumentParser, HelpFormatter, add_json_flag

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
    from careerpath.cli_common import print_json, require_model, require_path, show_progress

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
        f"model / ceiling (Acc@1): next course {_f(r['next_course'])}, next job {_f(r['next_job'])}, "
        f"job moves {_f(r['next_job_moves'])}"
    )
    print(f"wrote {Path(args.out) / 'metrics.json'}, report.md, hit_at_k.png, by_family.png")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
