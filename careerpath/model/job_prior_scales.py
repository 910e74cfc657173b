"""How much say the fine-tuned model gets beside its priors: ``model_scale`` of the course and
the job prior, each chosen on the validation split by log-loss through the catalog scorer, and
only above 0 when the model's gain over the prior alone exceeds the noise (a user-clustered
margin), so 0, the prior alone, is what a model that learned nothing beyond it gets."""

from __future__ import annotations

import numpy as np

SCALES = (0.0, 0.25, 0.5, 1.0)
MARGIN_SE = 2.0  # how many user-clustered standard errors a scale must gain over the prior alone


def _nll_rows(logp: np.ndarray, gold: list[int]) -> np.ndarray:
    z = logp - logp.max(1, keepdims=True)
    z = z - np.log(np.exp(z).sum(1, keepdims=True))
    return -z[np.arange(len(gold)), gold]


def _pick_scale(per_scale: dict[float, np.ndarray], users: list[str]) -> float:
    """0 (the prior alone) unless a scale lowers the per-row log-loss by more than
    ``MARGIN_SE`` user-clustered standard errors of the paired difference; then the best such."""
    keys, inv = np.unique(np.asarray(users), return_inverse=True)
    best, best_mean = 0.0, 0.0
    for s, nll in per_scale.items():
        if s == 0:
            continue
        d = nll - per_scale[0.0]
        mean = float(d.mean())
        resid = np.bincount(inv, weights=d - mean, minlength=len(keys))
        se = float(np.sqrt((resid**2).sum()) / len(d))
        if mean + MARGIN_SE * se < 0 and mean < best_mean:
            best, best_mean = s, mean
    return best


def choose_scales(scorer, rows: list[dict], batch: int = 64) -> dict[str, dict[float, float]]:
    """Set the course and job priors' ``model_scale`` on ``scorer`` from :data:`SCALES`, on
    ``rows`` (validation): the model gets a say only where it lowers the log-loss beyond the noise
    of the split (:func:`_pick_scale`); on data its priors describe exactly it can only tie them,
    and a model that only adds noise is switched off rather than allowed to make its priors worse.
    Returns the mean log-loss of each scale, per expert."""
    texts = [r["input_text"] for r in rows]
    skills = [list(r.get("skill_ids") or []) for r in rows]
    course_pos = {c: i for i, c in enumerate(scorer.course_ids)}
    job_pos = {j: i for i, j in enumerate(scorer.job_ids)}
    keep = [i for i, r in enumerate(rows) if r.get("next_course_id") in course_pos]
    users = [str(rows[i].get("user_id", i)) for i in keep]
    gold_c = [course_pos[rows[i]["next_course_id"]] for i in keep]
    gold_j = [job_pos.get(rows[i].get("next_job_id", ""), len(job_pos) - 1) for i in keep]
    prior = scorer.prior
    scorer.prior = None
    raw = np.concatenate([scorer.score_courses(texts[b : b + batch]) for b in range(0, len(texts), batch)])[
        keep
    ]
    scorer.prior = prior
    bias = prior.for_texts([texts[i] for i in keep]).astype(np.float64)
    course = {s: _nll_rows(s * raw + bias, gold_c) for s in SCALES}
    prior.model_scale = _pick_scale(course, users)
    kept_texts, kept_skills = [texts[i] for i in keep], [skills[i] for i in keep]
    job = {}
    for s in SCALES:
        scorer.job_prior.model_scale = s
        job_lp = np.concatenate(
            [
                scorer.score(kept_texts[b : b + batch], kept_skills[b : b + batch])[1]
                for b in range(0, len(kept_texts), batch)
            ]
        )
        job[s] = _nll_rows(job_lp, gold_j)
    scorer.job_prior.model_scale = _pick_scale(job, users)
    return {
        "course": {s: float(np.minimum(v, 50).mean()) for s, v in course.items()},
        "job": {s: float(np.minimum(v, 50).mean()) for s, v in job.items()},
    }
