"""The bias part of ``careerpath evaluate``: ranking quality by starting job family and level,
concentration of the top-10 lists, goal reach of the recommender's pathways, and counterfactual
stability of the model's rankings (careerpath/eval/bias.py holds the measures)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from tqdm.auto import tqdm

from careerpath.core.profile import ResolvedProfile
from careerpath.eval import bias as bias_mod
from careerpath.model.bundle import ModelBundle
from careerpath.model.scoring import ModelScorer
from careerpath.serving.recommend import Recommender


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


def recommender_for(bundle: ModelBundle) -> Recommender:
    """The recommender of the evaluated model folder, over the evaluated catalog."""
    rec = Recommender.from_bundle(bundle, use_embeddings=False)
    rec.reranker = None  # the model's own ranking is what is evaluated
    return rec


def group_report(rows: Sequence[dict], scores: dict, course_ids, job_ids, min_group_rows: int = 10) -> dict:
    """What needs no more scoring: the model's metrics by start family and level with their largest
    gaps, the concentration of every method's top-10 course lists (``scores``: name ->
    ``(course_logp, job_logp)``, the model's first), and each method's Hit@10 by start family."""
    out: dict = {}
    c_lp, j_lp = scores["model"]
    for key in ("start_family", "start_level"):
        if all(key in r for r in rows):
            out[f"by_{key}"] = bias_mod.group_metrics(
                rows, c_lp, j_lp, key, course_ids, job_ids, min_rows=min_group_rows
            )
    out["largest_gaps"] = {k[3:]: v["largest_gap"] for k, v in list(out.items()) if k.startswith("by_")}
    conc = bias_mod.recommendation_concentration(c_lp, rows, course_ids, k=10)
    out["coverage@10"], out["gini@10"] = conc["coverage@10"], conc["gini@10"]
    out["concentration"] = {
        name: bias_mod.recommendation_concentration(s[0], rows, course_ids, k=10)
        for name, s in scores.items()
    }
    if "by_start_family" in out:
        out["course_hit@10_by_start_family"] = {
            name: {
                g: v["course_hit@10"]
                for g, v in bias_mod.group_metrics(
                    rows, s[0], s[1], "start_family", course_ids, job_ids, min_rows=min_group_rows
                )["groups"].items()
            }
            for name, s in scores.items()
        }
    return out


def behaviour_report(
    recommender: Recommender,
    model_scorer: ModelScorer,
    rows: Sequence[dict],
    catalog,
    course_ids,
    *,
    bias_users: int = 60,
    counterfactual_examples: int = 20,
    pathway_max_steps: int | None = None,
    min_group_rows: int = 10,
    progress: bool = True,
) -> dict:
    """The expensive part: goal reach of the recommender's pathways (``bias_users`` users) and
    counterfactual stability of ``model_scorer``'s top-10 lists (``counterfactual_examples`` rows)."""
    reach = goal_reach(
        recommender,
        rows,
        catalog,
        max_users=bias_users,
        max_steps=pathway_max_steps,
        min_rows=min_group_rows,
        progress=progress,
    )
    cf_rows = rows[: max(0, int(counterfactual_examples))]
    stability = bias_mod.counterfactual_stability(model_scorer.score, cf_rows, course_ids, k=10)
    return {"goal_reach": reach, "counterfactual": stability}
