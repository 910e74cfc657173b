"""The methods ``careerpath evaluate`` compares and how each is scored: their labels, the priors
alone as a scorer, the baselines (loaded, or trained when missing), generation quality, the
paired model-vs-priors comparison with user-clustered bootstrap intervals, and the oracle ceiling
re-scored on the evaluated rows."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml

from careerpath.core import metrics as M
from careerpath.core.catalog import Catalog
from careerpath.core.textformat import parse_target
from careerpath.eval import baselines as bl
from careerpath.model import scoring
from careerpath.model.generation import compute_metrics

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


@dataclass
class EvalSplit:
    """The rows evaluated (a seeded sample of the split where asked) and the catalog they rank."""

    name: str
    rows: list[dict]
    n_total: int  # rows in the whole split
    catalog: Catalog
    course_ids: list[str]
    job_ids: list[str]


class PriorScorer:
    """A model's priors alone, without the model: the course prior (careerpath/model/prior.py) over the
    courses; jobs from the job prior (careerpath/model/job_prior.py) mixed over that course distribution,
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


class Recorded:
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


def generation_settings(model_dir: Path) -> dict:
    """max_new_tokens / num_beams / max_source_length from the model's training config, if any."""
    out = {"max_new_tokens": 48, "num_beams": 1, "max_source_length": 256}
    cfg = model_dir / "config.yaml"
    if cfg.is_file():
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


def load_or_train_baselines(
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


def score_oracles(sp: EvalSplit, data_dir: Path, scores: dict) -> dict:
    """The ceiling re-scored on these rows (where they carry the generator's probabilities; the one
    from the text also joins ``scores``), and the ceiling ``stats.json`` states for the whole split."""
    stats_path = data_dir / "stats.json"
    stats = json.loads(stats_path.read_text(encoding="utf-8")) if stats_path.is_file() else {}
    oracle: dict = {}
    has_probs = all(r.get("probs_visible") for r in sp.rows)
    for name, which in ORACLES.items():
        if has_probs:
            rec = Recorded(bl.OracleScorer(sp.course_ids, sp.job_ids, which, sp.catalog))
            oracle[name] = M.evaluate_scorer(rec, sp.rows, sp.course_ids, sp.job_ids)
            if name == "oracle":  # the ceiling also joins the concentration table and by-family plot
                scores[name] = rec.last
    split_stats = (stats.get("oracle") or {}).get(sp.name) or {}
    n = len(sp.rows)
    oracle["stats"] = {
        "visible": split_stats.get("visible"),
        "traits_known": split_stats.get("traits_known"),
        "note": "from stats.json, computed on the whole split"
        + (f" ({sp.n_total} rows; {n} evaluated here)" if n != sp.n_total else ""),
    }
    if sp.name == "test":
        oracle["stats"]["oracle_acc"] = stats.get("oracle_acc")
        oracle["stats"]["oracle_acc_traits_known"] = stats.get("oracle_acc_traits_known")
    return oracle
